"""A raw-text extreme multi-label set: train/test texts, label-id lists and label strings."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_write_text
from ..xmr.text2text import clean_text, write_text2text


@dataclass
class TextXMCDataset:
    name: str
    labels: list[str]
    train_texts: list[str]
    train_labels: list[list[int]]
    test_texts: list[str]
    test_labels: list[list[int]]
    meta: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "n_labels": len(self.labels),
            "n_train": len(self.train_texts),
            "n_test": len(self.test_texts),
            "avg_labels_per_train_example": float(np.mean([len(x) for x in self.train_labels])),
            **self.meta,
        }

    def save(self, out: str | Path) -> Path:
        """Write train.tsv, test.tsv, labels.txt and meta.json into ``out`` (each file atomically)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_text2text(out / "train.tsv", self.train_texts, self.train_labels)
        write_text2text(out / "test.tsv", self.test_texts, self.test_labels)
        atomic_write_text(out / "labels.txt", self.labels)
        atomic_write_text(out / "meta.json", [json.dumps(self.summary(), indent=2)])
        return out


def from_records(
    name: str,
    texts: Sequence[str],
    label_names: Sequence[Sequence[str]],
    is_train: np.ndarray | None,
    min_label_count: int,
    meta: dict,
    seed: int = 0,
    train_fraction: float = 0.8,
) -> TextXMCDataset:
    """Keep labels used at least ``min_label_count`` times, drop examples left with no label, split.

    With ``is_train`` given (e.g. a split by time), labels are counted in the training part only and the mask
    is the split. With ``is_train=None`` labels are counted over all records, label-less records are dropped,
    and the remaining records are split by a seeded shuffle (:func:`seeded_split`).
    Label ids are assigned by descending frequency, ties by name (deterministic)."""
    texts = [clean_text(t) for t in texts]
    counted = range(len(texts)) if is_train is None else np.flatnonzero(is_train)
    counts = Counter(lab for i in counted for lab in set(label_names[i]))
    kept = sorted((lab for lab, c in counts.items() if c >= min_label_count), key=lambda s: (-counts[s], s))
    index = {lab: i for i, lab in enumerate(kept)}
    ids = [sorted({index[lab] for lab in ls if lab in index}) for ls in label_names]
    keep = np.array([bool(i) and bool(t) for i, t in zip(ids, texts)], dtype=bool)
    if is_train is None:
        mask = np.zeros(len(texts), dtype=bool)
        mask[np.flatnonzero(keep)[seeded_split(int(keep.sum()), train_fraction, seed)]] = True
        meta = dict(meta, dropped=int((~keep).sum()))
    else:
        mask = np.asarray(is_train, dtype=bool)
        meta = dict(meta, dropped_train=int((~keep & mask).sum()), dropped_test=int((~keep & ~mask).sum()))
    tr = np.flatnonzero(keep & mask)
    te = np.flatnonzero(keep & ~mask)
    return TextXMCDataset(
        name, kept, [texts[i] for i in tr], [ids[i] for i in tr], [texts[i] for i in te], [ids[i] for i in te],
        meta=dict(meta, min_label_count=min_label_count),
    )


def seeded_split(n: int, train_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask: the first ``train_fraction`` of a seeded permutation is train."""
    perm = np.random.default_rng(seed).permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[perm[: int(round(train_fraction * n))]] = True
    return mask
