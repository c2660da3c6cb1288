"""Most-clicked-item baseline: the same top-k list, by training click count, for every query."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import check_pairs


class PopularityRetriever:
    def fit(self, texts: Sequence[str], label_lists: Sequence[Sequence[int]], n_items: int | None = None):
        n_items = check_pairs(texts, label_lists, n_items)
        counts = np.bincount(np.fromiter((c for ls in label_lists for c in ls), dtype=np.int64),
                             minlength=n_items)
        self.counts_ = counts
        self.order_ = np.lexsort((np.arange(n_items), -counts))  # ties by item id
        return self

    def predict(self, texts: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        top = self.order_[:k]
        n = len(texts)
        ids = np.full((n, k), -1, np.int64)
        ids[:, : len(top)] = top
        scores = np.zeros((n, k), np.float32)
        scores[:, : len(top)] = self.counts_[top]
        return ids, scores
