"""What every retriever shares: checked training pairs and a distinct-query x item click matrix."""

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
