"""Distillation losses on attention maps, relations, outputs and hidden states.

Attention maps are (B, H, Q, K) row-stochastic tensors (softmax over keys). Padding: ``query_mask`` (B, Q) and
``key_mask`` (B, K), True where the position is real; for self-attention pass one ``mask`` (B, L) for both.
Masked positions contribute nothing: map entries at a padded query or key are zeroed before any distance.

AMAD (attention-map alignment distillation, "No Head Left Behind", AAAI 2024). For example b, teacher head i
(map A_i) and student heads j (maps S_j), flattened over the real (query, key) pairs:

    c_ij = <A_i, S_j> / (|A_i| |S_j|)                     cosine similarity
    w_ij = softmax_j(c_ij / tau)                          alignment weights, stop-gradient (they steer, not learn)
    MSE form:  L = mean_{b,i} || A_i/|A_i| - sum_j w_ij S_j/|S_j| ||^2
    KL form:   L = mean_{b,i} mean_{real q} KL( A_i[q,:] || sum_j w_ij S_j[q,:] )

Each teacher head is matched to a convex combination of *all* student heads, so no teacher head is dropped when the
student has fewer heads. As tau -> 0 the weights become one-hot on the most similar student head; with a student
whose heads are (near) copies of the teacher's, that is the one-to-one loss.

One-to-one (TinyBERT-style): teacher head i <-> student head i for i < min(H_t, H_s); teacher heads beyond the
student's count are dropped. Same MSE / KL distances.

MiniLMv2 relations: queries, keys or values (B, L, D) are re-split into R relation heads of D/R dims; the relation
of head r is softmax(X_r X_r^T / sqrt(D/R)) over real keys; loss = KL(teacher relation || student relation) over
real query rows, averaged over relation heads and examples. R is free of either model's head count.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..errors import InputError

EPS = 1e-12


def _masks(maps: torch.Tensor, mask, query_mask, key_mask) -> tuple[torch.Tensor, torch.Tensor]:
    b, _, q, k = maps.shape
    if mask is not None:
        query_mask = key_mask = mask
    qm = torch.ones(b, q, dtype=torch.bool, device=maps.device) if query_mask is None else query_mask.bool()
    km = torch.ones(b, k, dtype=torch.bool, device=maps.device) if key_mask is None else key_mask.bool()
    if qm.shape != (b, q) or km.shape != (b, k):
        raise InputError(f"masks {tuple(qm.shape)} / {tuple(km.shape)} do not fit maps of shape {tuple(maps.shape)}")
    return qm, km


def _check_pair(teacher: torch.Tensor, student: torch.Tensor) -> None:
    if teacher.dim() != 4 or student.dim() != 4:
        raise InputError("attention maps must be (batch, heads, queries, keys)")
    if teacher.shape[0] != student.shape[0] or teacher.shape[2:] != student.shape[2:]:
        raise InputError(f"teacher maps {tuple(teacher.shape)} and student maps {tuple(student.shape)} must share "
                         "batch, queries and keys")


def _zero_padding(maps: torch.Tensor, qm: torch.Tensor, km: torch.Tensor) -> torch.Tensor:
    keep = (qm[:, None, :, None] & km[:, None, None, :]).to(maps.dtype)
    return maps * keep


def alignment_weights(teacher: torch.Tensor, student: torch.Tensor, tau: float = 0.1, mask=None,
                      query_mask=None, key_mask=None) -> torch.Tensor:
    """w (B, H_t, H_s): softmax over student heads of cosine(teacher map, student map) / tau (no gradient)."""
    _check_pair(teacher, student)
    qm, km = _masks(teacher, mask, query_mask, key_mask)
    return _weights(_zero_padding(teacher, qm, km), _zero_padding(student, qm, km), tau)


def _weights(t: torch.Tensor, s: torch.Tensor, tau: float) -> torch.Tensor:
    """Alignment weights of maps already zeroed on padding."""
    if tau <= 0:
        raise InputError(f"temperature must be positive, got {tau}")
    with torch.no_grad():
        tn = F.normalize(t.flatten(2), dim=-1, eps=EPS)
        sn = F.normalize(s.flatten(2), dim=-1, eps=EPS)
        return torch.softmax(torch.einsum("bif,bjf->bij", tn, sn) / tau, dim=-1)


def _mse_normalised(t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """mean over (B, heads) of || t/|t| - s/|s| ||^2 on flattened maps (already zeroed on padding)."""
    tn = F.normalize(t.flatten(2), dim=-1, eps=EPS)
    sn = F.normalize(s.flatten(2), dim=-1, eps=EPS)
    return (tn - sn).pow(2).sum(-1).mean()


def _kl_rows(t: torch.Tensor, s: torch.Tensor, qm: torch.Tensor, km: torch.Tensor) -> torch.Tensor:
    """mean over (B, heads, real queries) of KL(t[q] || s[q]) over real keys; rows renormalised over real keys."""
    kmask = km[:, None, None, :]
    t = t.masked_fill(~kmask, 0.0)
    s = s.masked_fill(~kmask, 0.0)
    t = t / t.sum(-1, keepdim=True).clamp_min(EPS)
    s = s / s.sum(-1, keepdim=True).clamp_min(EPS)
    kl = (t * (torch.log(t.clamp_min(EPS)) - torch.log(s.clamp_min(EPS)))).sum(-1)  # (B, H, Q)
    w = qm[:, None, :].to(kl.dtype).expand_as(kl)
    return (kl * w).sum() / w.sum().clamp_min(1.0)


def amad_loss(teacher: torch.Tensor, student: torch.Tensor, tau: float = 0.1, form: str = "mse", mask=None,
              query_mask=None, key_mask=None, return_weights: bool = False):
    """AMAD between teacher maps (B, H_t, Q, K) and student maps (B, H_s, Q, K); ``form`` mse or kl."""
    if form not in ("mse", "kl"):
        raise InputError(f"AMAD form must be mse or kl, got {form!r}")
    _check_pair(teacher, student)
    qm, km = _masks(teacher, mask, query_mask, key_mask)
    t = _zero_padding(teacher.detach(), qm, km)
    s = _zero_padding(student, qm, km)
    w = _weights(t, s, tau)
    if form == "mse":
        sn = F.normalize(s.flatten(2), dim=-1, eps=EPS)
        mix = torch.einsum("bij,bjf->bif", w, sn)
        tn = F.normalize(t.flatten(2), dim=-1, eps=EPS)
        loss = (tn - mix).pow(2).sum(-1).mean()
    else:
        mix = torch.einsum("bij,bjqk->biqk", w, s)
        loss = _kl_rows(t, mix, qm, km)
    return (loss, w) if return_weights else loss


def one_to_one_loss(teacher: torch.Tensor, student: torch.Tensor, form: str = "mse", mask=None, query_mask=None,
                    key_mask=None) -> torch.Tensor:
    """Head i of the teacher to head i of the student, i < min(H_t, H_s); the other teacher heads are dropped."""
    _check_pair(teacher, student)
    if form not in ("mse", "kl"):
        raise InputError(f"form must be mse or kl, got {form!r}")
    h = min(teacher.shape[1], student.shape[1])
    qm, km = _masks(teacher, mask, query_mask, key_mask)
    t = _zero_padding(teacher[:, :h].detach(), qm, km)
    s = _zero_padding(student[:, :h], qm, km)
    return _mse_normalised(t, s) if form == "mse" else _kl_rows(t, s, qm, km)


def relation(x: torch.Tensor, heads: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MiniLMv2 self-relation of x (B, L, D) with ``heads`` relation heads -> (B, heads, L, L) attention-like maps."""
    b, length, d = x.shape
    if d % heads:
        raise InputError(f"hidden size {d} is not divisible into {heads} relation heads")
    xr = x.view(b, length, heads, d // heads).transpose(1, 2)
    scores = xr @ xr.transpose(-1, -2) / math.sqrt(d // heads)
    if mask is not None:
        scores = scores.masked_fill(~mask.bool()[:, None, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1)


def relation_loss(teacher: torch.Tensor, student: torch.Tensor, heads: int, mask=None) -> torch.Tensor:
    """KL(teacher relation || student relation) for one of queries / keys / values, (B, L, D_t) and (B, L, D_s)."""
    if teacher.shape[:2] != student.shape[:2]:
        raise InputError(f"teacher {tuple(teacher.shape)} and student {tuple(student.shape)} must share batch and "
                         "length")
    rt = relation(teacher.detach(), heads, mask)
    rs = relation(student, heads, mask)
    qm, km = _masks(rt, mask, None, None)
    return _kl_rows(rt, rs, qm, km)


def output_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 2.0,
              multilabel: bool = False) -> torch.Tensor:
    """Temperature-scaled soft cross-entropy, times T^2 (Hinton et al.); for multi-label heads, per-label soft
    binary cross-entropy on sigmoid(logits / T)."""
    if temperature <= 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    t = teacher_logits.detach() / temperature
    s = student_logits / temperature
    if multilabel:
        return F.binary_cross_entropy_with_logits(s, torch.sigmoid(t)) * temperature**2
    return -(torch.softmax(t, -1) * torch.log_softmax(s, -1)).sum(-1).mean() * temperature**2


def hidden_mse(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, mask=None) -> torch.Tensor:
    """Mean squared error over real tokens (project the student first when the widths differ)."""
    if student_hidden.shape != teacher_hidden.shape:
        raise InputError(f"hidden states {tuple(student_hidden.shape)} vs {tuple(teacher_hidden.shape)}: project "
                         "the student to the teacher's width first")
    err = (student_hidden - teacher_hidden.detach()).pow(2).mean(-1)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype)
    return (err * m).sum() / m.sum().clamp_min(1.0)


def layer_map(teacher_layers: int, student_layers: int) -> list[int]:
    """Uniform mapping: student layer l (0-based) learns from teacher layer ceil((l + 1) * T / S) - 1, so the last
    student layer always meets the last teacher layer (6 -> 3: [1, 3, 5])."""
    if not 1 <= student_layers <= teacher_layers:
        raise InputError(f"need 1 <= student layers ({student_layers}) <= teacher layers ({teacher_layers})")
    return [math.ceil((l + 1) * teacher_layers / student_layers) - 1 for l in range(student_layers)]
