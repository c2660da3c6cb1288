"""Most-popular completion (MPC): the k most frequent training queries that start with the typed prefix.

Completions come from a ``marisa-trie`` over the training queries. Short prefixes (up to ``precompute_len``
characters) have their top-k lists precomputed, because enumerating every completion of "a" is slow; longer
prefixes enumerate the trie's completions and keep the k most frequent (ties: alphabetical). A prefix with no
completion backs off one character at a time; the empty prefix gives the globally most frequent queries.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import marisa_trie
import numpy as np


class MostPopularCompletion:
    def __init__(self, k: int = 10, precompute_len: int = 3):
        self.k = k
        self.precompute_len = precompute_len

    def fit(self, queries: Sequence[str], counts: Sequence[int] | None = None) -> MostPopularCompletion:
        """``queries`` with their counts, or a raw list of queries (counted here)."""
        if counts is None:
            from collections import Counter

            c = Counter(queries)
            queries, counts = list(c), [c[q] for q in c]
        self.trie_ = marisa_trie.Trie(list(queries))
        self.count_ = np.zeros(len(self.trie_), dtype=np.int64)
        for q, n in zip(queries, counts):
            self.count_[self.trie_[q]] += int(n)
        self.key_ = [""] * len(self.trie_)
        for key, idx in self.trie_.items():
            self.key_[idx] = key
        self.short_ = {}
        buckets: dict[str, list[int]] = {}
        for idx, key in enumerate(self.key_):
            for m in range(0, min(self.precompute_len, len(key)) + 1):
                buckets.setdefault(key[:m], []).append(idx)
        for p, ids in buckets.items():
            self.short_[p] = self._top(ids)
        return self

    def _top(self, ids) -> list[str]:
        best = heapq.nsmallest(self.k, ids, key=lambda i: (-self.count_[i], self.key_[i]))
        return [self.key_[i] for i in best]

    def suggest(self, prefix: str, k: int | None = None) -> list[str]:
        k = self.k if k is None else k
        p = prefix
        while True:
            if len(p) <= self.precompute_len:
                out = self.short_.get(p)
                if out:
                    return out[:k]
            else:
                ids = [idx for _, idx in self.trie_.items(p)]
                if ids:
                    return self._top(ids)[:k]
            if not p:
                return []
            p = p[:-1]
