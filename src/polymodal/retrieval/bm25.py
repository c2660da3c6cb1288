"""BM25 baseline (``bm25s``): each item is one document made of the training queries that led to a click on it.

Tokens are the lowercase word tokens the XR features use (``\\b\\w+\\b``), no stop words or stemming (queries are
short and a stop word can be the whole query). An item whose BM25 score is 0 was not matched by any query token and
is not returned (id -1), rather than padding the list with arbitrary items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..xmr.features import word_ngrams
from .base import check_pairs


def tokenize(text: str) -> list[str]:
    return word_ngrams(text.lower(), 1, 1)


class BM25Retriever:
    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        self.k1, self.b, self.method = k1, b, method

    def fit(self, texts: Sequence[str], label_lists: Sequence[Sequence[int]], n_items: int | None = None):
        import bm25s

        n_items = check_pairs(texts, label_lists, n_items)
        docs: list[list[str]] = [[] for _ in range(n_items)]
        for t, ls in zip(texts, label_lists):
            toks = tokenize(t)
            for c in ls:
                docs[c].extend(toks)
        self.n_items_ = n_items
        self.index_ = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        self.index_.index(docs, show_progress=False, create_empty_token=True)
        return self

    def predict(self, texts: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        k_eff = min(k, self.n_items_)
        queries = [tokenize(t) or [""] for t in texts]
        docs, scores = self.index_.retrieve(queries, k=k_eff, show_progress=False, n_threads=0)
        docs = np.asarray(docs, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float32)
        ids = np.full((len(texts), k), -1, np.int64)
        out = np.zeros((len(texts), k), np.float32)
        hit = scores > 0
        ids[:, :k_eff] = np.where(hit, docs, -1)
        out[:, :k_eff] = np.where(hit, scores, 0.0)
        return ids, out
