"""Student initialisation from the teacher's embeddings.

A student narrower than the teacher cannot copy the teacher's embedding tables, but it can start from their
principal subspace: with the teacher's word embeddings E (V, D_t) centred by their mean m, and P (D_t, D_s) the
top D_s eigenvectors of their covariance, the student's tables become (E - m) P, and its position and token-type
tables are the teacher's projected by the same P. The student then starts with the teacher's lexical geometry
(most of the variance of a 384-d table lives in far fewer directions), which a student trained from scratch on a
few thousand short texts never learns. The transformer layers keep their random initialisation.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from .transformer import Encoder


@torch.no_grad()
def principal_projection(table: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (D,), P (D, width)): the mean and top-``width`` principal directions of the rows of ``table``."""
    d = table.shape[1]
    if not 1 <= width <= d:
        raise InputError(f"cannot project {d}-d embeddings onto {width} principal directions")
    x = table.double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / max(1, x.shape[0] - 1)
    vals, vecs = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(vals, descending=True)[:width]
    return mean.to(table.dtype), vecs[:, order].to(table.dtype)


@torch.no_grad()
def init_embeddings_from_teacher(student: Encoder, teacher: Encoder) -> Encoder:
    """Overwrite the student's word / position / token-type embeddings by the teacher's projected onto their
    principal subspace (see the module docstring); returns the student."""
    se, te = student.embeddings, teacher.embeddings
    if se.word_embeddings.weight.shape[0] != te.word_embeddings.weight.shape[0]:
        raise InputError("student and teacher must share the vocabulary")
    mean, proj = principal_projection(te.word_embeddings.weight, student.config.hidden)
    se.word_embeddings.weight.copy_((te.word_embeddings.weight - mean) @ proj)
    n_pos = min(se.position_embeddings.num_embeddings, te.position_embeddings.num_embeddings)
    se.position_embeddings.weight[:n_pos].copy_(te.position_embeddings.weight[:n_pos] @ proj)
    n_type = min(se.token_type_embeddings.num_embeddings, te.token_type_embeddings.num_embeddings)
    se.token_type_embeddings.weight[:n_type].copy_(te.token_type_embeddings.weight[:n_type] @ proj)
    return student
