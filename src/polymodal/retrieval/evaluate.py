"""Retrieval metrics (recall@k, precision@1, MRR) and single-query latency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..timing import latency
from ..xmr.metrics import labels_to_csr, ranking_metrics


def recall_metrics(label_lists: Sequence[Sequence[int]], ids: np.ndarray, n_items: int) -> dict[str, float]:
    """R@10, R@100 (if 100 columns were retrieved), P@1 and MRR, in percent."""
    ks = (1, 10, 100) if ids.shape[1] >= 100 else (1, 10)
    m = ranking_metrics(labels_to_csr(label_lists, n_items), ids, ks=ks)
    return {key: round(m[key], 4) for key in ("P@1", "R@10", "R@100", "MRR") if key in m}


def search_latency(model, texts: Sequence[str], n: int = 10_000, k: int = 10, beam_size: int | None = None) -> dict:
    """End-to-end single-query latency: raw text in, k (label string, score) pairs out."""
    return latency(lambda text: model.suggest(text, k, beam_size), [(t,) for t in texts], n=n)


def recall_per_row(label_lists: Sequence[Sequence[int]], ids: np.ndarray, k: int = 10) -> np.ndarray:
    """Each row's recall@k: the share of its true items among its first k ids (rows without items: 0)."""
    out = np.zeros(len(label_lists))
    for i, (ys, row) in enumerate(zip(label_lists, ids)):
        if len(ys):
            top = set(row[:k].tolist())
            out[i] = sum(y in top for y in set(ys)) / len(set(ys))
    return out
