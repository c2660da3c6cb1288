"""Query-embedding generator (a small Q-Former-like block): T learnable queries cross-attend to an image's feature
map tokens and come out as T query embeddings per image, (B*N, T, D) -> what MIVC fuses per token.

feature map (B, C, H, W) -> tokens (B, H*W, C) + a learned position embedding -> linear to D ->
[queries: self-attention -> cross-attention to tokens -> MLP] x layers, pre-norm residual blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError


class QueryBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4, dropout: float = 0.0):
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.n1(q)
        q = q + self.self_attn(h, h, h, need_weights=False)[0]
        out, attn = self.cross_attn(self.n2(q), kv, kv, need_weights=True)
        q = q + out
        return q + self.mlp(self.n3(q)), attn


class QueryGenerator(nn.Module):
    def __init__(self, in_channels: int, dim: int = 256, num_queries: int = 8, layers: int = 2, heads: int = 4,
                 max_tokens: int = 64):
        super().__init__()
        if dim % heads:
            raise InputError(f"dim {dim} must be divisible by heads {heads}")
        self.proj = nn.Linear(in_channels, dim)
        self.pos = nn.Parameter(torch.zeros(1, max_tokens, dim))
        self.queries = nn.Parameter(torch.randn(1, num_queries, dim) * 0.02)
        self.blocks = nn.ModuleList(QueryBlock(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.max_tokens = max_tokens

    def forward(self, fmap: torch.Tensor, return_attention: bool = False):
        """(B, C, H, W) -> (B, num_queries, dim) [, last cross-attention map (B, num_queries, H*W)]."""
        if fmap.dim() != 4:
            raise InputError(f"expected a feature map (batch, channels, height, width), got {tuple(fmap.shape)}")
        tokens = fmap.flatten(2).transpose(1, 2)
        n = tokens.shape[1]
        if n > self.max_tokens:
            raise InputError(f"feature map has {n} positions, this generator was built for at most {self.max_tokens}")
        kv = self.proj(tokens) + self.pos[:, :n]
        q = self.queries.expand(fmap.shape[0], -1, -1)
        attn = None
        for b in self.blocks:
            q, attn = b(q, kv)
        q = self.norm(q)
        return (q, attn) if return_attention else q
