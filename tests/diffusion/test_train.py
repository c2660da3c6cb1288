"""Training helpers: step-limited batches, hidden squares, the reconstruction-only baseline learning its task,
EMA weights loaded at the end, and the independent judges learning real structure."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
from polymodal.diffusion.evaluators import Segmenter, predict, train_classifier  # noqa: E402
from polymodal.diffusion.model import MTConfig, MTDiffusion  # noqa: E402
from polymodal.diffusion.process import ProcessConfig  # noqa: E402
from polymodal.diffusion.train import (  # noqa: E402
    batches,
    reconstruct_directly,
    reconstruction_only_loss,
    train,
    weight_average,
    with_hidden_squares,
)


def stripes(n=64, seed=0):
    """8x8 grey images of horizontal stripes with a random phase: a hidden square is predictable from the rest."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.randint(0, 2, (n, 1, 1, 1), generator=g)
    rows = torch.arange(8).view(1, 1, 8, 1)
    return (((rows + phase) % 2) * 1.6 - 0.8).expand(n, 1, 8, 8).contiguous()


def tiny_rec():
    return MTDiffusion(MTConfig(image_channels=1, image_size=8, masked_image=True, channels=[16, 16],
                                attention=False, process=ProcessConfig(timesteps=50, beta_end=0.2)))


def test_step_limited_batches_and_hidden_squares():
    x = torch.arange(10.0)
    b = list(batches({"x": x}, 3, seed=0, steps=3))
    assert len(b) == 3 and all(len(i["x"]) == 3 for i in b)
    assert len({float(v) for i in b for v in i["x"]}) == 9  # without replacement
    img = stripes(4)
    out = with_hidden_squares({"image": img}, 2, 3, torch.Generator().manual_seed(0))
    assert torch.equal(out["masked_image"], img * (1 - out["hidden"]))
    assert out["hidden"].flatten(1).sum(1).min() >= 9


def test_reconstruction_only_baseline_learns_to_fill_squares():
    torch.manual_seed(0)
    model = tiny_rec()
    data = {"image": stripes(256)}
    probe = with_hidden_squares({"image": stripes(32, seed=9)}, 1, 3, torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = float(reconstruction_only_loss(model, probe))
    info = train(model, data, steps=120, batch_size=32, lr=3e-3, objective="reconstruction", squares=1, side=3,
                 ema=0.9, progress=False)
    with torch.no_grad():
        after = float(reconstruction_only_loss(model, probe))
    assert after < 0.25 * before, (before, after)
    filled = probe["masked_image"] + probe["hidden"] * reconstruct_directly(model, probe["masked_image"])
    assert float(((filled - probe["image"]) ** 2).mean()) < 0.25 * float(((probe["masked_image"] - probe["image"])
                                                                           ** 2).mean())
    assert info["steps"] == 120 and set(info["mean_terms"]) == {"reconstruction"}


def test_the_ema_of_the_weights_is_what_training_leaves():
    """One step: the loaded weights are d w_0 + (1 - d) w_1 with the warmed-up decay d = min(0.5, 2 / 11)."""
    data = {"image": stripes(32)}
    torch.manual_seed(0)
    w0 = {k: v.clone() for k, v in tiny_rec().state_dict().items()}
    torch.manual_seed(0)
    plain = tiny_rec()
    train(plain, data, steps=1, batch_size=16, lr=1e-2, objective="reconstruction", squares=1, side=3, ema=0,
          progress=False)
    torch.manual_seed(0)
    averaged = tiny_rec()
    train(averaged, data, steps=1, batch_size=16, lr=1e-2, objective="reconstruction", squares=1, side=3, ema=0.5,
          progress=False)
    moved, d = 0, 2 / 11
    for k, v in averaged.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, d * w0[k] + (1 - d) * plain.state_dict()[k], atol=1e-6), k
            moved += int(not torch.equal(w0[k], plain.state_dict()[k]))
    assert moved > 0


def test_mt_training_runs_every_term_with_hidden_squares():
    torch.manual_seed(0)
    model = tiny_rec()
    info = train(model, {"image": stripes(64)}, steps=4, batch_size=16, squares=1, side=3, progress=False)
    assert {"l0", "l1", "l2", "l2_reconstruction", "l3", "total"} <= set(info["mean_terms"])
    assert all(v == v for v in info["mean_terms"].values())  # finite, not NaN


def test_judges_learn_real_structure():
    from polymodal.diffusion.data import fashion_mnist

    x, y = fashion_mnist("test")
    clf = train_classifier(x[:3000], y[:3000], 10, epochs=2, progress=False)
    acc = float((predict(clf, x[3000:4000]).argmax(-1) == y[3000:4000]).float().mean())
    assert acc > 0.7  # chance is 0.1
    assert predict(clf, x[:5], fn=lambda m, v: m.features(v)).shape == (5, 128)
    seg = Segmenter(3)
    assert seg(torch.zeros(2, 3, 16, 16)).shape == (2, 1, 16, 16)


def test_the_ema_decay_warms_up_to_its_ceiling():
    """Decay of the n-th mix after the first (kept) update: min(decay, (1 + n) / (10 + n))."""
    avg = weight_average(tiny_rec(), 0.999)
    assert avg.get_decay(1) == 0.0 and avg.get_decay(2) == 2 / 11 and avg.get_decay(11) == 11 / 20
    assert avg.get_decay(10_001) == 0.999
    half = weight_average(tiny_rec(), 0.5)
    assert half.get_decay(101) == 0.5 and half.get_decay(6) == 6 / 15
