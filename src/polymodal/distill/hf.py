"""Hugging Face ``transformers`` BERT-style models as distillation teachers or students.

:class:`HFEncoder` wraps e.g. a ``BertModel`` so that it returns what :class:`~.transformer.Encoder` returns (an
:class:`~.transformer.EncoderOutput` with every hidden state, every layer's attention maps and its queries / keys /
values), and exposes ``config.layers / heads / hidden``. The maps come from ``output_attentions=True``, which needs
the eager attention implementation (load with ``attn_implementation="eager"``); queries, keys and values are
captured by forward hooks on each layer's ``attention.self.query / key / value`` projections (BERT's names).
``Classifier(HFEncoder(model), n_classes)`` then works with the :class:`~.trainer.Distiller` like a polymodal
encoder, on either side.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from ..errors import InputError
from .transformer import EncoderOutput


class HFEncoder(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        cfg = model.config
        impl = getattr(cfg, "_attn_implementation", "eager")
        if impl not in (None, "eager"):
            raise InputError(f"attention maps need eager attention; this model uses {impl!r}: load it with "
                             "attn_implementation='eager'")
        self.model = model
        heads, hidden = cfg.num_attention_heads, cfg.hidden_size
        self.config = SimpleNamespace(layers=cfg.num_hidden_layers, heads=heads, hidden=hidden,
                                      head_dim=hidden // heads)
        self._captured: dict[tuple[int, str], torch.Tensor] = {}
        self._capture = False
        try:
            layers = model.encoder.layer
        except AttributeError:
            raise InputError("not a BERT-style model: no encoder.layer list") from None
        for i, layer in enumerate(layers):
            for name in ("query", "key", "value"):
                proj = getattr(layer.attention.self, name)
                proj.register_forward_hook(self._hook(i, name))

    def _hook(self, i: int, name: str):
        def keep(_module, _inputs, output):
            if self._capture:
                self._captured[(i, name)] = output
        return keep

    @property
    def embeddings(self):
        return self.model.embeddings

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, token_type_ids=None,
                collect: bool = True) -> EncoderOutput:
        self._capture, self._captured = collect, {}
        try:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                             token_type_ids=token_type_ids, output_attentions=collect, output_hidden_states=collect)
        finally:
            self._capture = False
        if not collect:
            return EncoderOutput(last=out.last_hidden_state)
        if out.attentions is None or any(a is None for a in out.attentions):
            raise InputError("the model returned no attention maps: load it with attn_implementation='eager'")
        qkv = [tuple(self._captured[(i, n)] for n in ("query", "key", "value")) for i in range(self.config.layers)]
        return EncoderOutput(last=out.last_hidden_state, hidden_states=list(out.hidden_states),
                             attentions=list(out.attentions), qkv=qkv)
