"""Label indexing: PIFA label embeddings and hierarchical balanced spherical k-means into a B-ary tree.

PIFA (positive instance feature aggregation): ``z_l = v_l / ||v_l||`` with ``v_l = sum_{i: y_il = 1} x_i``.

The tree is built like PECOS: recursive balanced spherical 2-means to binary depth
``D = ceil(log2(L / max_leaf_size))`` (each split puts the ceil(n/2) labels with the largest
``<z, c0> - <z, c1>`` in the first child, centers are normalised means), then the B-ary levels are every
``log2(B)``-th binary level counted up from the leaves, adding levels until the top one has at most B nodes
(PECOS's ``ClusterChain.from_partial_chain`` with ``min_codes = B``: 1024 leaves -> 4, 64, 1024).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .parallel import resolve_threads, thread_map
from .tree import ClusterTree


@dataclass
class IndexerConfig:
    nr_splits: int = 16
    max_leaf_size: int = 100
    max_iter: int = 20
    seed: int = 0

    def __post_init__(self):
        if self.nr_splits < 2 or self.nr_splits & (self.nr_splits - 1):
            raise ValueError(f"nr_splits must be a power of 2 >= 2, got {self.nr_splits}")
        if self.max_leaf_size < 1:
            raise ValueError("max_leaf_size must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def pifa(X: sp.csr_matrix, Y: sp.csr_matrix) -> sp.csr_matrix:
    """PIFA label embeddings (n_labels x n_features), rows L2-normalised, float32 CSR."""
    YT = sp.csr_matrix(Y, dtype=np.float32).T.tocsr()
    Z = sp.csr_matrix(YT @ sp.csr_matrix(X, dtype=np.float32), dtype=np.float32)  # a product has no duplicates
    if Z.nnz:
        lens = np.diff(Z.indptr)
        sq = np.add.reduceat(Z.data.astype(np.float64) ** 2, np.minimum(Z.indptr[:-1], Z.nnz - 1))
        sq[lens == 0] = 0.0
        inv = np.where(sq > 0, 1.0 / np.sqrt(np.maximum(sq, 1e-30)), 0.0).astype(np.float32)
        Z.data *= np.repeat(inv, lens)
    return Z


@njit(nogil=True, cache=True)
def _xorshift(state):
    state ^= (state << np.uint64(13)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    state ^= state >> np.uint64(7)
    state ^= (state << np.uint64(17)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return state


@njit(nogil=True, cache=True)
def _add_row(S, indptr, indices, data, r, sign):
    for k in range(indptr[r], indptr[r + 1]):
        S[indices[k]] += sign * data[k]


@njit(nogil=True, cache=True)
def _split_nodes(indptr, indices, data, perm, bounds, nodes, max_iter, seed, D, S0, S1, mark):
    """Balanced spherical 2-means of each node in ``nodes`` (labels perm[bounds[i]:bounds[i+1]]), in place.

    Each pass scores every label by ``<z, c0> - <z, c1>`` (one lookup per non-zero in ``D = c0 - c1``) and puts
    the ceil(n/2) best in child 0. The unnormalised sums S0, S1 (float64) are kept between passes and only the
    labels that changed side are moved (after the first passes few do), so a pass costs one scan of the node's
    non-zeros plus a few scans of its distinct columns, not three scans of the non-zeros."""
    for node in nodes:
        a = bounds[node]
        b = bounds[node + 1]
        n = b - a
        if n < 2:
            continue
        half = (n + 1) // 2
        idx = perm[a:b].copy()
        # unique columns of the node
        nnz = 0
        for r in idx:
            nnz += indptr[r + 1] - indptr[r]
        ucols = np.empty(nnz, dtype=np.int64)
        nu = 0
        for r in idx:
            for k in range(indptr[r], indptr[r + 1]):
                c = indices[k]
                if mark[c] == 0:
                    mark[c] = 1
                    ucols[nu] = c
                    nu += 1
        st = np.uint64(seed * 1000003 + node * 7919 + 12345) | np.uint64(1)
        st = _xorshift(st)
        i0 = np.int64(st % np.uint64(n))
        st = _xorshift(st)
        i1 = np.int64(st % np.uint64(n - 1))
        if i1 >= i0:
            i1 += 1
        _add_row(D, indptr, indices, data, idx[i0], 1.0)  # first centers: two random labels
        _add_row(D, indptr, indices, data, idx[i1], -1.0)
        assign = np.full(n, -1, dtype=np.int8)
        score = np.empty(n, dtype=np.float32)
        order = np.arange(n)
        for _ in range(max_iter):
            for i in range(n):
                r = idx[i]
                s = np.float32(0.0)
                for k in range(indptr[r], indptr[r + 1]):
                    s += data[k] * D[indices[k]]
                score[i] = -s
            order = np.argsort(score, kind="mergesort")
            changed = False
            for j in range(n):
                g = 0 if j < half else 1
                i = order[j]
                if assign[i] != g:
                    changed = True
                    r = idx[i]
                    if g == 0:
                        _add_row(S0, indptr, indices, data, r, 1.0)
                        if assign[i] == 1:
                            _add_row(S1, indptr, indices, data, r, -1.0)
                    else:
                        _add_row(S1, indptr, indices, data, r, 1.0)
                        if assign[i] == 0:
                            _add_row(S0, indptr, indices, data, r, -1.0)
                    assign[i] = g
            if not changed:
                break
            n0 = 0.0
            n1 = 0.0
            for j in range(nu):
                c = ucols[j]
                n0 += S0[c] * S0[c]
                n1 += S1[c] * S1[c]
            n0 = 1.0 / max(np.sqrt(n0), 1e-12)
            n1 = 1.0 / max(np.sqrt(n1), 1e-12)
            for j in range(nu):
                c = ucols[j]
                D[c] = S0[c] * n0 - S1[c] * n1
        for j in range(n):
            perm[a + j] = idx[order[j]]
        for j in range(nu):
            c = ucols[j]
            D[c] = 0.0
            S0[c] = 0.0
            S1[c] = 0.0
            mark[c] = 0


def _child_bounds(bounds: np.ndarray) -> np.ndarray:
    """Halve every node: [a, c) -> [a, a + ceil((c-a)/2)), [.., c)."""
    a, c = bounds[:-1], bounds[1:]
    mid = a + (c - a + 1) // 2
    out = np.empty(2 * len(a) + 1, dtype=np.int64)
    out[0:-1:2] = a
    out[1::2] = mid
    out[-1] = bounds[-1]
    return out


def binary_depth(n_labels: int, max_leaf_size: int) -> int:
    if n_labels <= max_leaf_size:
        return 0
    d = max(1, math.ceil(math.log2(n_labels / max_leaf_size)))
    while d > 0 and 2**d > n_labels:
        d -= 1
    return d


def hierarchical_kmeans(
    Z: sp.csr_matrix, config: IndexerConfig | None = None, threads: int | None = None
) -> ClusterTree:
    """Cluster label embeddings (rows of Z, L2-normalised) into a balanced B-ary :class:`ClusterTree`."""
    cfg = config or IndexerConfig()
    Z = sp.csr_matrix(Z, dtype=np.float32)
    if not Z.has_sorted_indices:  # sorted columns keep the center lookups cache-friendly (~25% faster)
        Z = Z.copy()
        Z.sort_indices()
    L = Z.shape[0]
    depth_bin = binary_depth(L, cfg.max_leaf_size)
    if depth_bin == 0:
        return ClusterTree.flat(L)
    threads = resolve_threads(threads)
    d = Z.shape[1]
    perm = np.arange(L, dtype=np.int64)
    bounds = np.array([0, L], dtype=np.int64)
    levels = [bounds]
    indptr = Z.indptr.astype(np.int64)
    zind = Z.indices.astype(np.uint32)  # unsigned: numba skips the negative-index check on the center lookups

    def scratch():
        return {"D": np.zeros(d, np.float32), "S0": np.zeros(d), "S1": np.zeros(d), "mark": np.zeros(d, np.int8)}

    label_nnz = np.diff(indptr)
    for level in range(depth_bin):
        # one node per work item, the most non-zeros first: node costs are uneven, a queue keeps threads busy
        cost = np.add.reduceat(label_nnz[perm], bounds[:-1])
        items = [np.array([node]) for node in np.argsort(-cost, kind="stable")]

        def run(nodes, s, bounds=bounds, level=level):
            _split_nodes(indptr, zind, Z.data, perm, bounds, nodes, cfg.max_iter,
                         cfg.seed * 131 + level, s["D"], s["S0"], s["S1"], s["mark"])

        thread_map(run, items, threads, scratch)
        bounds = _child_bounds(bounds)
        levels.append(bounds)

    step = int(math.log2(cfg.nr_splits))
    depths = [depth_bin]  # add coarser levels while the top one has more than nr_splits nodes (PECOS min_codes)
    while 2 ** depths[0] > cfg.nr_splits:
        depths.insert(0, max(depths[0] - step, 0))
    if depths[0] == 0:
        depths.pop(0)
    ptrs = [np.array([0, 2 ** depths[0]], dtype=np.int64)]
    for lo, hi in zip(depths[:-1], depths[1:]):
        ptrs.append(np.arange(2**lo + 1, dtype=np.int64) * 2 ** (hi - lo))
    ptrs.append(levels[depth_bin])
    return ClusterTree(ptrs, perm)
