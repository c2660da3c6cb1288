"""Beam-search building blocks against brute force: top-k selection with ties, the chunked weight layout."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from polymodal.xmr.beam import _select
from polymodal.xmr.chunked import pack
from polymodal.xmr.tree import ClusterTree


@pytest.mark.parametrize("keep", [1, 5, 32, 33, 100, 400])
def test_select_equals_stable_sort(keep):
    rng = np.random.default_rng(keep)
    for _ in range(20):
        m = int(rng.integers(1, 300))
        s = rng.integers(0, 12, m).astype(np.float64) / 4  # many ties
        n = rng.permutation(10 * m)[:m].astype(np.int64)
        cur_n = np.empty(max(keep, m), np.int64)
        cur_s = np.empty(max(keep, m), np.float64)
        c = _select(n.copy(), s.copy(), m, keep, cur_n, cur_s)
        ref = np.argsort(-s, kind="stable")[:keep]  # ties: the earlier candidate first
        assert c == len(ref)
        assert np.array_equal(cur_n[:c], n[ref])
        assert np.array_equal(cur_s[:c], s[ref])


def test_pack_round_trips_unsorted_levels():
    rng = np.random.default_rng(0)
    d = 50
    cuts = np.sort(rng.choice(np.arange(1, 40), 8, replace=False))
    ptrs = [np.array([0, 3]), np.array([0, 2, 5, 9]), np.r_[0, cuts, 40]]
    tree = ClusterTree(ptrs, rng.permutation(40))
    levels = []
    for t in range(tree.depth):
        K = tree.level_size(t + 1)
        W = sp.random(d + 1, K, density=0.3, format="csc", random_state=t, dtype=np.float32)
        for c in range(K):  # the trainer's columns come unsorted
            a, b = W.indptr[c], W.indptr[c + 1]
            o = rng.permutation(b - a)
            W.indices[a:b], W.data[a:b] = W.indices[a:b][o], W.data[a:b][o]
        W.has_sorted_indices = False
        levels.append(W)
    cw = pack(levels, tree)
    for t, W in enumerate(levels):
        assert abs(cw.level_matrix(t, d) - W).max() == 0
        for p in range(len(ptrs[t]) - 1):  # each chunk lists its features once, ascending
            q = cw.coff[t] + p
            f = cw.rows()[0][cw.chunk_ptr[q] : cw.chunk_ptr[q + 1]]
            assert np.all(np.diff(f) > 0)
