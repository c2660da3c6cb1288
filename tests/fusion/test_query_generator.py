from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from polymodal.errors import InputError  # noqa: E402
from polymodal.fusion.query_generator import QueryGenerator  # noqa: E402


def test_shapes_and_attention_rows_sum_to_one():
    torch.manual_seed(0)
    g = QueryGenerator(in_channels=32, dim=16, num_queries=4, layers=2, heads=2, max_tokens=49).eval()
    q, attn = g(torch.randn(3, 32, 7, 7), return_attention=True)
    assert q.shape == (3, 4, 16) and attn.shape == (3, 4, 49)
    assert torch.allclose(attn.sum(-1), torch.ones(3, 4), atol=1e-5)


def test_without_position_embedding_the_queries_ignore_token_order():
    """Cross-attention is a set operation over the keys: with the position embedding at zero (its initial
    value), shuffling the spatial positions changes nothing; once positions are learned, it does."""
    torch.manual_seed(1)
    g = QueryGenerator(in_channels=8, dim=16, num_queries=3, layers=1, heads=4, max_tokens=16).eval()
    fmap = torch.randn(2, 8, 4, 4)
    perm = torch.randperm(16)
    shuffled = fmap.flatten(2)[:, :, perm].view(2, 8, 4, 4)
    with torch.no_grad():
        assert torch.allclose(g(fmap), g(shuffled), atol=1e-5)
        g.pos.normal_()
        assert not torch.allclose(g(fmap), g(shuffled), atol=1e-3)


def test_each_image_is_independent_of_the_batch():
    torch.manual_seed(2)
    g = QueryGenerator(in_channels=8, dim=16, num_queries=2, layers=2, heads=2, max_tokens=16).eval()
    x = torch.randn(3, 8, 4, 4)
    with torch.no_grad():
        assert torch.allclose(g(x)[1], g(x[1:2])[0], atol=1e-5)


def test_bad_inputs():
    g = QueryGenerator(in_channels=8, dim=16, num_queries=2, layers=1, heads=2, max_tokens=16)
    with pytest.raises(InputError):
        g(torch.randn(2, 8, 16))
    with pytest.raises(InputError, match="at most 16"):
        g(torch.randn(1, 8, 5, 5))
    with pytest.raises(InputError, match="divisible"):
        QueryGenerator(in_channels=8, dim=10, heads=4)
