"""What every retriever shares: training pairs -> a query x item click matrix, and top-k rows as id arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..xmr.metrics import labels_to_csr


def check_pairs(texts: Sequence[str], label_lists: Sequence[Sequence[int]], n_items: int | None) -> int:
    if len(texts) != len(label_lists):
        raise InputError(f"{len(texts)} texts but {len(label_lists)} label lists")
    if not len(texts):
        raise InputError("no training examples")
    top = max((max(x) for x in label_lists if len(x)), default=-1) + 1
    if n_items is None:
        return top
    if top > n_items:
        raise InputError(f"item id {top - 1} out of range ({n_items} items)")
    return n_items


def distinct_query_clicks(texts: Sequence[str], label_lists: Sequence[Sequence[int]], n_items: int):
    """Distinct training queries and a (distinct query x item) matrix of click counts."""
    index: dict[str, int] = {}
    rows = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    Y = labels_to_csr(label_lists, n_items).tocoo()
    C = sp.csr_matrix((Y.data, (rows[Y.row], Y.col)), shape=(len(index), n_items))
    C.sum_duplicates()
    return list(index), C


def topk_rows(S: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k column ids (-1 padded) and scores of each row of a sparse score matrix, best first."""
    S = sp.csr_matrix(S)
    n = S.shape[0]
    ids = np.full((n, k), -1, np.int64)
    scores = np.zeros((n, k), np.float32)
    for i in range(n):
        lo, hi = S.indptr[i], S.indptr[i + 1]
        if hi == lo:
            continue
        d = S.data[lo:hi]
        c = S.indices[lo:hi]
        m = min(k, hi - lo)
        part = np.argpartition(-d, m - 1)[:m] if hi - lo > m else np.arange(hi - lo)
        order = part[np.lexsort((c[part], -d[part]))]
        ids[i, :m] = c[order]
        scores[i, :m] = d[order]
    return ids, scores
