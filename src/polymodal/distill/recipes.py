"""What ``benchmarks/distill.py`` and ``polymodal distill`` share: the students' shapes, the six methods of the grid,
the text task's data, the teacher's fine-tuning and a student's distillation. A teacher or student made on the
command line with the defaults is the one the benchmark measures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError
from ..training import TrainConfig, TrainResult, fit, seed_everything
from .init import init_embeddings_from_teacher
from .text import ShuffledBatches
from .trainer import DistillConfig, distill, model_inputs
from .transformer import Encoder, EncoderConfig

# name -> (layers, heads) of the benchmark's students; every student keeps the teacher's 32-dim heads
STUDENTS = {"h12": (6, 12), "h6": (6, 6), "h4": (6, 4), "h2": (6, 2), "l2": (2, 12)}
# method -> the DistillConfig fields that make it (every method but "labels" adds output KD)
METHODS = {
    "labels": dict(kd_weight=0.0, attention="none"),
    "kd": dict(attention="none"),
    "one-to-one": dict(attention="one-to-one", form="kl"),
    "relations": dict(attention="relations"),
    "amad-mse": dict(attention="amad", form="mse"),
    "amad-kl": dict(attention="amad", form="kl"),
}


def student_encoder(layers: int, heads: int, head_dim: int = 32, dropout: float = 0.1) -> Encoder:
    """A randomly initialised student encoder: width = heads x head_dim, feed-forward 4x the width."""
    if layers < 1 or heads < 1 or head_dim < 1:
        raise InputError(f"a student needs layers, heads and head_dim >= 1, got {layers}, {heads}, {head_dim}")
    return Encoder(EncoderConfig(layers=layers, heads=heads, head_dim=head_dim, intermediate=4 * head_dim * heads,
                                 dropout=dropout))


def method_config(method: str, **settings) -> DistillConfig:
    """The DistillConfig of one of :data:`METHODS`, with other settings (temperatures, weights) on top."""
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return DistillConfig(**settings, **METHODS[method])


@dataclass
class TextData:
    """The text task (Amazon UK toys: title -> top-level category) as word-piece ids."""

    train_ids: list[list[int]]
    train_labels: list[int]
    test_ids: list[list[int]]
    test_labels: list[int]
    classes: list[str]


def text_data(max_len: int = 32) -> TextData:
    from ..datasets.amazon import build_top_category
    from .text import encode_texts
    from .transformer import minilm_tokenizer

    tr_x, tr_y, te_x, te_y, names = build_top_category()
    tok = minilm_tokenizer()
    return TextData(encode_texts(tr_x, tok, max_len), list(tr_y), encode_texts(te_x, tok, max_len), list(te_y),
                    list(names))


def finetune_teacher(model: nn.Module, train: list[dict], epochs: int = 4, lr: float = 1e-4,
                     progress: bool = False) -> TrainResult:
    """Cross-entropy fine-tuning on fixed batches, their order reshuffled every epoch (seed 0). The caller seeds
    (or not) before: the published teachers differ in that (``benchmarks/distill.py``)."""
    return fit(model, ShuffledBatches(train, seed=0),
               lambda m, b: F.cross_entropy(m(**model_inputs(b))[0], b["labels"]),
               TrainConfig(epochs=epochs, lr=lr, seed=0, device="cpu", progress=progress))


def distil_student(make_student: Callable[[], nn.Module], teacher: nn.Module, train: list[dict], method: str,
                   seed: int = 0, epochs: int = 6, lr: float = 5e-4, progress: bool = False,
                   **settings) -> tuple[nn.Module, TrainResult]:
    """Seed, build the student, start its embeddings from the teacher's principal subspace, and distil it with
    ``method`` on ``train`` (batches, optionally carrying cached teacher outputs: ``cache_teacher``), their order
    reshuffled every epoch with ``seed``. ``settings``: other DistillConfig fields (tau, kd_temperature, ...)."""
    config = method_config(method, **settings)
    seed_everything(seed)
    student = make_student()
    init_embeddings_from_teacher(student.encoder, teacher.encoder)
    res = distill(student, teacher, ShuffledBatches(train, seed=seed), config,
                  TrainConfig(epochs=epochs, lr=lr, seed=seed, device="cpu", progress=progress))
    return student, res


@torch.no_grad()
def predict_proba(model: nn.Module, batches: list[dict]) -> torch.Tensor:
    """Class probabilities of a classifier over batches, in batch order."""
    model.eval()
    return torch.cat([torch.softmax(model(**model_inputs(b))[0], -1) for b in batches])
