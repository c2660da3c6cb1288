"""MIVC fusion: permutation invariance (property test), closed forms for mean/max, attention that depends on the
bag, padding that changes nothing, and clear errors for empty or fully masked bags."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from polymodal.errors import InputError  # noqa: E402
from polymodal.fusion import FUSIONS, AttentionPool, create_fusion  # noqa: E402

NAMES = ["mean", "max", "attention", "gated"]


def make(name, dim, seed=0):
    torch.manual_seed(seed)
    return create_fusion(name, dim=dim).double().eval()


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), b=st.integers(1, 4), n=st.integers(1, 8), tokens=st.sampled_from([0, 1, 5]),
       seed=st.integers(0, 10_000))
def test_permutation_invariance(name, b, n, tokens, seed):
    g = torch.Generator().manual_seed(seed)
    dim = 16
    shape = (b, n, tokens, dim) if tokens else (b, n, dim)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    mask = torch.rand(b, n, generator=g) < 0.7
    mask[:, 0] = True
    m = make(name, dim, seed)
    out, w = m(x, mask)
    perm = torch.randperm(n, generator=g)
    out_p, w_p = m(x[:, perm], mask[:, perm])
    assert torch.allclose(out, out_p, atol=1e-5, rtol=0)
    assert torch.allclose(w[:, perm], w_p, atol=1e-5, rtol=0)  # the weights follow their images
    assert torch.allclose(w.sum(1), torch.ones(b, dtype=w.dtype), atol=1e-6)
    assert (w[~mask] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_padding_changes_nothing(name):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    m = make(name, 8)
    pad = torch.cat([x, 1e3 * torch.randn(2, 4, 8, dtype=torch.float64)], dim=1)
    mask = torch.tensor([[True] * 3 + [False] * 4] * 2)
    a, wa = m(x)
    b, wb = m(pad, mask)
    assert torch.allclose(a, b, atol=1e-10) and torch.allclose(wa, wb[:, :3], atol=1e-10)


def test_mean_and_max_closed_forms():
    x = torch.tensor([[[1.0, 5.0], [3.0, -1.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    mean, w = create_fusion("mean", dim=2)(x, mask)
    assert torch.allclose(mean, torch.tensor([[2.0, 2.0]])) and torch.allclose(w, torch.tensor([[0.5, 0.5, 0.0]]))
    mx, w = create_fusion("max", dim=2)(x, mask)
    assert torch.allclose(mx, torch.tensor([[3.0, 5.0]])) and torch.allclose(w, torch.tensor([[0.5, 0.5, 0.0]]))


def test_attention_is_a_convex_combination_with_the_documented_scores():
    torch.manual_seed(2)
    m = AttentionPool(6, hidden=4).double()
    x = torch.randn(1, 4, 6, dtype=torch.float64)
    out, a = m(x)
    c = x[0].mean(0)
    e = torch.stack([m.w(torch.tanh(m.V(x[0, k]) + m.U(c))).squeeze() for k in range(4)])
    assert torch.allclose(a[0], torch.softmax(e, 0), atol=1e-12)
    assert torch.allclose(out[0], (a[0, :, None] * x[0]).sum(0), atol=1e-12)


@pytest.mark.parametrize("name", ["attention", "gated"])
def test_attention_depends_on_the_rest_of_the_bag(name):
    """Changing image 3 changes the ratio of the weights of images 1 and 2 (it would not if each score came
    from its own image alone)."""
    torch.manual_seed(3)
    m = make(name, 8)
    x = torch.randn(1, 3, 8, dtype=torch.float64)
    with torch.no_grad():
        _, a = m(x)
    y = x.clone()
    y[0, 2] = torch.randn(8, dtype=torch.float64) * 3
    with torch.no_grad():
        _, b = m(y)
    assert abs(float(a[0, 0] / a[0, 1]) - float(b[0, 0] / b[0, 1])) > 1e-4


def test_token_inputs_fuse_per_token_with_one_weight_per_image():
    torch.manual_seed(4)
    m = make("attention", 8)
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    out, a = m(x)
    assert out.shape == (2, 5, 8) and a.shape == (2, 3)
    assert torch.allclose(out, torch.einsum("bn,bntd->btd", a, x), atol=1e-12)


def test_gradients_reach_the_attention_parameters():
    m = create_fusion("gated", dim=8)
    out, _ = m(torch.randn(2, 3, 8))
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_bad_bags(name):
    m = create_fusion(name, dim=4)
    with pytest.raises(InputError, match="empty bag"):
        m(torch.zeros(2, 0, 4))
    with pytest.raises(InputError, match="every image masked"):
        m(torch.zeros(2, 3, 4), torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(InputError, match="mask shape"):
        m(torch.zeros(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(InputError, match="expected"):
        m(torch.zeros(4, 4))


def test_registry():
    assert {"mean", "max", "attention", "gated"} <= set(FUSIONS)
    with pytest.raises(InputError, match="unknown fusion"):
        create_fusion("concat", dim=4)
