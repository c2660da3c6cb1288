"""MIVC fusion modules: a bag of image embeddings -> one embedding (and per-image weights).

Input ``x``: (B, N, D) pooled embeddings or (B, N, T, D) token embeddings (e.g. query-generator outputs), and an
optional ``mask`` (B, N), True where the image exists (bags of different sizes are padded). Output: the fused
(B, D) or (B, T, D) tensor and the per-image weights (B, N) (zero on padding; uniform for mean pooling, the
fraction of features each image wins for max pooling).

Attention (written out in docs/fusion.md). With s_k = the image summary (its embedding, or the mean of its tokens)
and c = the masked mean of s over the bag:

    e_k = w^T tanh(V s_k + U c)                                      (attention)
    e_k = w^T (tanh(V s_k + U c) * sigmoid(G s_k + H c))             (gated attention)
    a   = softmax over the bag's real images of e,   fused = sum_k a_k x_k

so each weight depends on its image and, through c, on every other image of the bag; c is a symmetric function
of the bag and softmax is permutation-equivariant, so the fused output is permutation invariant.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError


def check_bag(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Validate shapes and return a boolean mask (B, N)."""
    if x.dim() not in (3, 4):
        raise InputError(f"expected (batch, images, dim) or (batch, images, tokens, dim), got shape {tuple(x.shape)}")
    b, n = x.shape[:2]
    if n == 0:
        raise InputError("empty bag: at least one image is needed")
    if mask is None:
        return torch.ones(b, n, dtype=torch.bool, device=x.device)
    if mask.shape != (b, n):
        raise InputError(f"mask shape {tuple(mask.shape)} does not match (batch, images) = {(b, n)}")
    mask = mask.to(torch.bool)
    if not bool(mask.any(dim=1).all()):
        raise InputError("a bag has every image masked: at least one image is needed")
    return mask


def _expand(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return mask.view(*mask.shape, *([1] * (x.dim() - 2)))


def _summary(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=2) if x.dim() == 4 else x


def _masked_mean(s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(s.dtype)
    return (s * m).sum(1) / m.sum(1)


class MeanPool(nn.Module):
    """Parameter-free; ``dim`` and ``hidden`` are accepted so every fusion is built the same way."""

    def __init__(self, dim: int | None = None, hidden: int | None = None):
        super().__init__()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        mask = check_bag(x, mask)
        w = mask.to(x.dtype) / mask.sum(1, keepdim=True)
        return (x * _expand(w, x)).sum(1), w


class MaxPool(nn.Module):
    """Parameter-free; ``dim`` and ``hidden`` are accepted so every fusion is built the same way."""

    def __init__(self, dim: int | None = None, hidden: int | None = None):
        super().__init__()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        mask = check_bag(x, mask)
        filled = x.masked_fill(~_expand(mask, x), float("-inf"))
        fused, arg = filled.max(dim=1)
        n = x.shape[1]
        wins = nn.functional.one_hot(arg, n).to(x.dtype)  # (..., N): which image gave each feature
        w = wins.flatten(1, -2).mean(1) if wins.dim() > 2 else wins
        return fused, w


class AttentionPool(nn.Module):
    """Permutation-invariant attention pooling with bag context; ``gated=True`` adds the sigmoid gate."""

    def __init__(self, dim: int, hidden: int = 128, gated: bool = False):
        super().__init__()
        self.V = nn.Linear(dim, hidden)
        self.U = nn.Linear(dim, hidden, bias=False)
        self.w = nn.Linear(hidden, 1, bias=False)
        self.gated = gated
        if gated:
            self.G = nn.Linear(dim, hidden)
            self.H = nn.Linear(dim, hidden, bias=False)

    def scores(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = _summary(x)
        c = _masked_mean(s, mask).unsqueeze(1)
        h = torch.tanh(self.V(s) + self.U(c))
        if self.gated:
            h = h * torch.sigmoid(self.G(s) + self.H(c))
        return self.w(h).squeeze(-1).masked_fill(~mask, float("-inf"))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        mask = check_bag(x, mask)
        a = torch.softmax(self.scores(x, mask), dim=1)
        return (x * _expand(a, x)).sum(1), a


class GatedAttentionPool(AttentionPool):
    def __init__(self, dim: int, hidden: int = 128):
        super().__init__(dim, hidden, gated=True)


FUSIONS = {"mean": MeanPool, "max": MaxPool, "attention": AttentionPool, "gated": GatedAttentionPool,
           "gated-attention": GatedAttentionPool}


def create_fusion(name: str, dim: int, **kwargs) -> nn.Module:
    if name not in FUSIONS:
        raise InputError(f"unknown fusion {name!r}; choose from {sorted(FUSIONS)}")
    return FUSIONS[name](dim=dim, **kwargs)
