"""Evaluation metrics against closed forms and independent computations; the square masks of the reconstruction
task; the EfficientNet-Lite0 stage outputs the perceptual distance compares."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from polymodal.diffusion.data import hide, square_masks  # noqa: E402
from polymodal.diffusion.metrics import (  # noqa: E402
    PerceptualDistance,
    frechet_distance,
    iou,
    label_agreement,
    psnr,
    ssim,
)
from polymodal.errors import InputError  # noqa: E402


def test_frechet_distance_against_eigenvalues_and_identities():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(size=(300, 5)) * 2 + 1
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    tr_sqrt = np.sqrt(np.linalg.eigvals(sa @ sb).real.clip(0)).sum()  # Tr sqrt(SaSb): eigenvalues are >= 0
    want = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + 3.0) == pytest.approx(9 * 5, rel=1e-6)  # a shift by c costs |c|^2
    with pytest.raises(InputError):
        frechet_distance(a, b[:, :3])


def test_label_agreement_and_iou_and_psnr_by_hand():
    r = label_agreement(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert r["agreement"] == pytest.approx(3 / 5)
    assert r["precision"] == pytest.approx([1 / 2, 1.0, 1 / 2])  # of the generated 0s, one judged 0
    assert r["recall"] == pytest.approx([1 / 2, 1 / 2, 1.0])
    a = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])
    b = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0]])
    assert iou(a, b).tolist() == pytest.approx([1 / 3, 1.0])
    x = torch.zeros(2, 1, 4, 4)
    assert psnr(x + 0.1, x).tolist() == pytest.approx([10 * np.log10(4 / 0.01)] * 2, rel=1e-5)


def test_ssim_and_perceptual_distance_order_degradations():
    from polymodal.diffusion.data import eth80

    images = eth80(64)[0][::400][:6]
    g = torch.Generator().manual_seed(0)
    light = (images + 0.05 * torch.randn(images.shape, generator=g)).clamp(-1, 1)
    heavy = (images + 0.4 * torch.randn(images.shape, generator=g)).clamp(-1, 1)
    s_same, s_light, s_heavy = ssim(images, images), ssim(light, images), ssim(heavy, images)
    assert np.allclose(s_same, 1.0) and np.all(s_light > s_heavy)
    pd = PerceptualDistance(size=128)
    d_same, d_light, d_heavy = pd(images, images), pd(light, images), pd(heavy, images)
    assert torch.allclose(d_same, torch.zeros(6), atol=1e-6)
    assert torch.all(d_light < d_heavy) and torch.all(d_light > 0)
    assert torch.allclose(pd(light, images), pd(images, light), atol=1e-5)  # symmetric


def test_stage_outputs_end_where_the_features_begin():
    from polymodal.vision import EfficientNetLite0

    net = EfficientNetLite0.pretrained()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        stages = net.stage_outputs(x)
        head = torch.nn.functional.relu6(net._bn1(net._conv_head(stages[-1])))
        assert torch.allclose(head, net.features(x), atol=1e-5)
    assert [s.shape[1] for s in stages] == [32, 16, 24, 40, 80, 112, 192, 320]


def test_square_masks_and_hiding():
    g = torch.Generator().manual_seed(0)
    m = square_masks(50, 32, squares=3, side=8, generator=g)
    counts = m.flatten(1).sum(1)
    assert counts.min() >= 64 and counts.max() <= 3 * 64 and set(m.unique().tolist()) == {0.0, 1.0}
    x = torch.rand(50, 1, 32, 32)
    h = hide(x, m)
    assert torch.equal(h[m == 1], torch.zeros(int(m.sum()))) and torch.equal(h[m == 0], x[m == 0])
    with pytest.raises(InputError):
        square_masks(1, 8, side=9)


def test_fashion_mnist_native_and_padded():
    from polymodal.diffusion.data import fashion_mnist

    x28, y = fashion_mnist("test")
    x32, y32 = fashion_mnist("test", size=32)
    assert x28.shape == (10_000, 1, 28, 28) and torch.equal(y, y32)
    assert torch.equal(x32[:, :, 2:30, 2:30], x28) and torch.all(x32[:, :, :2] == -1)
    assert float(x28.min()) == -1.0 and float(x28.max()) == 1.0
    with pytest.raises(InputError):
        fashion_mnist("test", size=29)
