"""Text classification batches for teachers and students: word-piece ids, length-bucketed fixed batches (so the
teacher's outputs can be cached per batch), a per-epoch shuffle of the batch order, and accuracy."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .trainer import model_inputs


def encode_texts(texts: list[str], tokenizer, max_len: int = 32) -> list[list[int]]:
    """Word-piece ids with [CLS] ... [SEP], truncated to ``max_len`` (keeping the final [SEP])."""
    if max_len < 2:
        raise InputError("max_len must be at least 2 ([CLS] and [SEP])")
    tokenizer.no_padding()
    tokenizer.no_truncation()
    out = []
    for enc in tokenizer.encode_batch(list(texts)):
        ids = enc.ids
        out.append(ids if len(ids) <= max_len else ids[: max_len - 1] + ids[-1:])
    return out


def fixed_batches(ids: list[list[int]], labels, batch_size: int = 64, seed: int = 0) -> list[dict]:
    """Batches of similar length (sorted by length within shuffled chunks of 50 batches), padded with 0.

    The composition of the batches is fixed by ``seed``; :class:`ShuffledBatches` reorders them per epoch."""
    if len(ids) != len(labels):
        raise InputError(f"{len(ids)} texts but {len(labels)} labels")
    if not ids:
        raise InputError("no texts")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start: start + chunk], key=lambda i: len(ids[i]))
        for b in range(0, len(part), batch_size):
            batches.append(pad_batch([ids[i] for i in part[b: b + batch_size]],
                                     [labels[i] for i in part[b: b + batch_size]]))
    return batches


def pad_batch(ids: list[list[int]], labels) -> dict:
    length = max(len(x) for x in ids)
    input_ids = torch.zeros(len(ids), length, dtype=torch.long)
    mask = torch.zeros(len(ids), length, dtype=torch.long)
    for r, x in enumerate(ids):
        input_ids[r, : len(x)] = torch.tensor(x)
        mask[r, : len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": torch.as_tensor(np.asarray(labels))}


class ShuffledBatches:
    """A list of batches whose order is reshuffled (seeded) every time it is iterated, i.e. every epoch."""

    def __init__(self, batches: list, seed: int = 0):
        self.batches, self.rng = batches, np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter([self.batches[i] for i in self.rng.permutation(len(self.batches))])


@torch.no_grad()
def accuracy(model, batches: list[dict]) -> float:
    """Top-1 accuracy of a classifier returning ``(logits, ...)`` (text or vision-language) over the batches."""

    model.eval()
    right = total = 0
    for b in batches:
        logits, _ = model(**model_inputs(b))
        right += int((logits.argmax(-1) == b["labels"]).sum())
        total += len(b["labels"])
    return right / total
