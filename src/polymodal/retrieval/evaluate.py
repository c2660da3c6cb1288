"""Retrieval metrics (recall@k, precision@1, MRR) and single-query latency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
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


def paired_difference_ci(a: np.ndarray, b: np.ndarray, groups: Sequence, n_boot: int = 2000,
                         seed: int = 0) -> dict[str, float]:
    """Mean of a - b in percent and its 95 % bootstrap interval, resampling whole groups (e.g. every test row of
    one query string together, since rows of one query are not independent)."""
    if not len(a) == len(b) == len(groups) or not len(a):
        raise InputError(f"paired values need equal, non-zero lengths, got {len(a)}, {len(b)}, {len(groups)}")
    diff = np.asarray(a, float) - np.asarray(b, float)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    sums, counts = np.bincount(g, weights=diff), np.bincount(g)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), (n_boot, len(sums)))
    boots = sums[picks].sum(1) / counts[picks].sum(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": round(100 * diff.mean(), 4), "ci95": [round(100 * lo, 4), round(100 * hi, 4)],
            "groups": int(len(sums)), "n_boot": n_boot}
