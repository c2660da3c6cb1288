"""Distillation on top of the shared training loop.

loss = task_weight * task loss (labels)
     + kd_weight * output distillation (temperature-scaled soft cross-entropy against the teacher's logits)
     + attention_weight * mean over mapped layer pairs of the attention loss:
           "amad" (MSE or KL form), "one-to-one", or "relations" (MiniLMv2: query-query, key-key and value-value
           relations, each averaged), or "none"
     + hidden_weight * mean over mapped layer pairs of the hidden-state MSE (student projected to the teacher width)

Layer pairs: student layer l <-> teacher layer ``layer_map(T, S)[l]``. The teacher runs without gradients in eval
mode. Teacher and student are :class:`Classifier` models (an :class:`Encoder` and a linear head on the first
token, or on the mean of real tokens).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError
from ..training import TrainConfig, fit
from .losses import amad_loss, hidden_mse, layer_map, one_to_one_loss, output_kd, relation_loss
from .transformer import Encoder, EncoderOutput

ATTENTION_LOSSES = ("none", "amad", "one-to-one", "relations")
INPUT_KEYS = ("input_ids", "attention_mask", "inputs_embeds", "image")  # what a batch hands to the models


def model_inputs(batch: dict) -> dict:
    """The model inputs of a batch (its labels and cached teacher outputs left out)."""
    return {k: batch[k] for k in INPUT_KEYS if k in batch}


@dataclass
class DistillConfig:
    task_weight: float = 1.0
    kd_weight: float = 1.0
    kd_temperature: float = 2.0
    attention: str = "amad"
    attention_weight: float = 1.0
    form: str = "mse"  # amad / one-to-one distance: mse or kl
    tau: float = 0.1  # AMAD temperature
    relation_heads: int = 0  # 0: the largest divisor of gcd(teacher width, student width) <= teacher heads
    hidden_weight: float = 0.0
    multilabel: bool = False

    def __post_init__(self):
        if self.attention not in ATTENTION_LOSSES:
            raise InputError(f"attention loss must be one of {ATTENTION_LOSSES}, got {self.attention!r}")
        if self.form not in ("mse", "kl"):
            raise InputError(f"form must be mse or kl, got {self.form!r}")
        if min(self.task_weight, self.kd_weight, self.attention_weight, self.hidden_weight) < 0:
            raise InputError("loss weights must be >= 0")
        if self.relation_heads < 0:
            raise InputError("relation_heads must be >= 0 (0 = automatic)")

    def to_dict(self) -> dict:
        return asdict(self)


class Classifier(nn.Module):
    """Encoder + dropout + linear head on the first token (``pool="first"``) or the mean of real tokens."""

    def __init__(self, encoder: Encoder, n_classes: int, pool: str = "mean", dropout: float = 0.1):
        super().__init__()
        if pool not in ("first", "mean"):
            raise InputError(f"pool must be first or mean, got {pool!r}")
        self.encoder, self.pool = encoder, pool
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden, n_classes)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, collect: bool = False):
        out = self.encoder(input_ids, attention_mask, inputs_embeds=inputs_embeds, collect=collect)
        if self.pool == "first":
            pooled = out.last[:, 0]
        else:
            m = (attention_mask if attention_mask is not None else torch.ones(out.last.shape[:2])).to(out.last)
            pooled = (out.last * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp_min(1.0)
        return self.head(self.dropout(pooled)), out


def task_loss(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool) -> torch.Tensor:
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return F.cross_entropy(logits, labels)


def auto_relation_heads(teacher_width: int, student_width: int, teacher_heads: int) -> int:
    """MiniLMv2 re-splits both models' queries / keys / values into the same number of relation heads, which
    must divide both widths: the largest divisor of their gcd that does not exceed the teacher's head count."""
    g = math.gcd(teacher_width, student_width)
    return max(r for r in range(1, min(g, teacher_heads) + 1) if g % r == 0)


def attention_term(t: EncoderOutput, s: EncoderOutput, cfg: DistillConfig, mask: torch.Tensor | None,
                   pairs: list[tuple[int, int]], relation_heads: int) -> torch.Tensor:
    terms = []
    for ls, lt in pairs:
        if cfg.attention == "amad":
            terms.append(amad_loss(t.attentions[lt], s.attentions[ls], cfg.tau, cfg.form, mask=mask))
        elif cfg.attention == "one-to-one":
            terms.append(one_to_one_loss(t.attentions[lt], s.attentions[ls], cfg.form, mask=mask))
        else:
            terms.append(sum(relation_loss(xt, xs, relation_heads, mask)
                             for xt, xs in zip(t.qkv[lt], s.qkv[ls], strict=True)) / 3)
    return torch.stack(terms).mean()


class Distiller(nn.Module):
    """Holds the student (trained), the frozen teacher and an optional hidden-state projection; ``loss(batch)``
    is what the shared loop minimises. A batch is a dict with ``labels`` and either ``input_ids`` or
    ``inputs_embeds`` (plus ``attention_mask``)."""

    def __init__(self, student: Classifier, teacher: Classifier, config: DistillConfig):
        super().__init__()
        self.student, self.config = student, config
        self.teacher = [teacher.eval()]  # a list: not a registered submodule, so its weights are not trained
        for p in teacher.parameters():
            p.requires_grad_(False)
        ts, ss = teacher.encoder.config, student.encoder.config
        self.pairs = list(enumerate(layer_map(ts.layers, ss.layers)))
        self.relation_heads = config.relation_heads or auto_relation_heads(ts.hidden, ss.hidden, ts.heads)
        self.project = (nn.Linear(ss.hidden, ts.hidden) if config.hidden_weight > 0 and ss.hidden != ts.hidden
                        else None)

    def to(self, *args, **kwargs):
        self.teacher[0].to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def loss(self, batch: dict) -> torch.Tensor:
        cfg = self.config
        inputs = model_inputs(batch)
        need_inner = cfg.attention != "none" or cfg.hidden_weight > 0
        logits, s_out = self.student(**inputs, collect=need_inner)
        total = cfg.task_weight * task_loss(logits, batch["labels"], cfg.multilabel) if cfg.task_weight else 0.0
        if cfg.kd_weight or need_inner:
            if "teacher" in batch:  # outputs cached by cache_teacher()
                t_logits, t_out = unpack_teacher(batch["teacher"])
            else:
                with torch.no_grad():
                    t_logits, t_out = self.teacher[0](**inputs, collect=need_inner)
            if cfg.kd_weight:
                total = total + cfg.kd_weight * output_kd(logits, t_logits, cfg.kd_temperature, cfg.multilabel)
            mask = batch.get("attention_mask")
            if cfg.attention != "none" and cfg.attention_weight:
                term = attention_term(t_out, s_out, cfg, mask, self.pairs, self.relation_heads)
                total = total + cfg.attention_weight * term
            if cfg.hidden_weight:
                terms = []
                for ls, lt in self.pairs:
                    h = s_out.hidden_states[ls + 1]
                    terms.append(hidden_mse(self.project(h) if self.project is not None else h,
                                            t_out.hidden_states[lt + 1], mask))
                total = total + cfg.hidden_weight * torch.stack(terms).mean()
        if not torch.is_tensor(total):
            raise InputError("every loss weight is zero: nothing to train")
        return total


@torch.no_grad()
def cache_teacher(teacher: Classifier, batches: list[dict], dtype: torch.dtype = torch.float16) -> list[dict]:
    """The batches with the teacher's logits, attention maps, queries / keys / values and hidden states attached
    under ``"teacher"`` (stored in ``dtype``), so that many students trained on the same fixed batches run the
    teacher once instead of once per step. The loss reads them back as float32."""
    teacher.eval()
    out = []
    for batch in batches:
        inputs = model_inputs(batch)
        logits, o = teacher(**inputs, collect=True)
        out.append({**batch, "teacher": {
            "logits": logits.float(),
            "attentions": [a.to(dtype) for a in o.attentions],
            "qkv": [tuple(x.to(dtype) for x in qkv) for qkv in o.qkv],
            "hidden_states": [h.to(dtype) for h in o.hidden_states]}})
    return out


def unpack_teacher(cached: dict) -> tuple[torch.Tensor, EncoderOutput]:
    f = torch.float32
    hidden = [h.to(f) for h in cached["hidden_states"]]
    return cached["logits"].to(f), EncoderOutput(
        last=hidden[-1], hidden_states=hidden, attentions=[a.to(f) for a in cached["attentions"]],
        qkv=[tuple(x.to(f) for x in qkv) for qkv in cached["qkv"]])


def distill(student: Classifier, teacher: Classifier, batches, config: DistillConfig, train: TrainConfig,
            evaluate=None, out=None):
    """Train ``student`` against ``teacher`` with the shared loop; returns the loop's result."""
    d = Distiller(student, teacher, config)
    return fit(d, batches, lambda model, batch: model.loss(batch), train,
               evaluate=(lambda model: evaluate(model.student)) if evaluate else None, out=out)
