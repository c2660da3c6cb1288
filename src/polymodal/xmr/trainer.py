"""Per-level training of XR-Linear: one-vs-rest over each parent's active instances.

At level t every node k with parent p gets a binary classifier trained on the instances *active* for p:
- teacher-forced negatives (``tfn``): instances with a positive label under p (for the root: all instances);
- matcher-aware negatives (``man``): instances whose beam at level t-1, under the model trained so far, holds p;
- ``tfn+man``: their union.
Instance i is positive for k when one of its labels lies under k. Weights with ``|w| < threshold`` are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from numba import njit

from .chunked import LevelPart, pack_entries
from .memory import release_free_memory
from .parallel import thread_map
from .solver import MULTI, solve_binary, solve_svm_dual_multi


@njit(nogil=True, cache=True)
def _grow(a, need):
    if need <= len(a):
        return a
    b = np.empty(max(need, 2 * len(a)), dtype=a.dtype)
    b[: len(a)] = a
    return b


@njit(nogil=True, cache=True)
def compact_parent(x_indptr, x_indices, x_data, n_feat, inst, yc_indptr, yc_indices, c_lo, c_hi, bias,
                   colmap, instmap):
    """Copy the rows ``inst`` into a local column space and list each child's positives in local row ids.

    Returns (lp, li, ld, l2g, xsq, pos_ptr, pos_idx): local CSR, local -> global column map, ||x||^2 + bias^2,
    and for child ``c_lo + j`` its positive local rows pos_idx[pos_ptr[j]:pos_ptr[j+1]]. ``colmap``
    (n_feat) and ``instmap`` (n_instances) are all -1 scratch, reset on exit."""
    n = len(inst)
    nnz = 0
    for i in inst:
        nnz += x_indptr[i + 1] - x_indptr[i]
    lp = np.empty(n + 1, dtype=np.int64)
    li = np.empty(nnz, dtype=np.uint32)  # unsigned: numba skips the negative-index check on w[li[k]]
    ld = np.empty(nnz, dtype=np.float32)
    l2g = np.empty(min(nnz, n_feat) + 1, dtype=np.int64)
    xsq = np.empty(n)
    nl = 0
    pos = 0
    for j in range(n):
        i = inst[j]
        lp[j] = pos
        sq = 0.0
        for k in range(x_indptr[i], x_indptr[i + 1]):
            c = x_indices[k]
            m = colmap[c]
            if m < 0:
                m = nl
                colmap[c] = nl
                l2g[nl] = c
                nl += 1
            li[pos] = m
            v = x_data[k]
            ld[pos] = v
            sq += v * v
            pos += 1
        xsq[j] = sq + bias * bias
        instmap[i] = j
    lp[n] = pos
    n_child = c_hi - c_lo
    pos_ptr = np.zeros(n_child + 1, dtype=np.int64)
    for c in range(c_lo, c_hi):
        cnt = 0
        for k in range(yc_indptr[c], yc_indptr[c + 1]):
            if instmap[yc_indices[k]] >= 0:
                cnt += 1
        pos_ptr[c - c_lo + 1] = pos_ptr[c - c_lo] + cnt
    pos_idx = np.empty(pos_ptr[n_child], dtype=np.int64)
    for c in range(c_lo, c_hi):
        q = pos_ptr[c - c_lo]
        for k in range(yc_indptr[c], yc_indptr[c + 1]):
            m = instmap[yc_indices[k]]
            if m >= 0:
                pos_idx[q] = m
                q += 1
    for f in range(nl):
        colmap[l2g[f]] = -1
    for i in inst:
        instmap[i] = -1
    return lp, li, ld, l2g[:nl].copy(), xsq, pos_ptr, pos_idx


@njit(nogil=True, cache=True)
def _keep(w, stride, b, nl, l2g, n_feat, bias, threshold, feat, val, cnt):
    """Append the weights |w| >= threshold of child ``b`` (``w[f * stride + b]``) as global feature ids."""
    need = cnt + nl + 1
    if need > len(feat):
        feat = _grow(feat, need)
        val = _grow(val, need)
    for f in range(nl):
        x = w[f * stride + b]
        if abs(x) >= threshold:
            feat[cnt] = l2g[f]
            val[cnt] = x
            cnt += 1
    x = w[nl * stride + b]
    if bias > 0 and abs(x) >= threshold:
        feat[cnt] = n_feat
        val[cnt] = x
        cnt += 1
    return feat, val, cnt


@njit(nogil=True, cache=True)
def solve_children(lp, li, ld, l2g, xsq, pos_ptr, pos_idx, j_lo, j_hi, n_feat, bias, Cp, Cn, loss, eps,
                   max_iter, threshold, seed):
    """Train children j_lo..j_hi of a compacted parent; returns (ptr, feat, val) with global feature ids
    (``n_feat`` = the bias) of the weights with |w| >= threshold. The SVM losses solve up to ``MULTI``
    children at once (:func:`solve_svm_dual_multi`); logistic regression one at a time."""
    n = len(xsq)
    nl = len(l2g)
    n_child = j_hi - j_lo
    ptr = np.zeros(n_child + 1, dtype=np.int64)
    feat = np.empty(64 * n_child + 16, dtype=np.int32)
    val = np.empty(64 * n_child + 16, dtype=np.float32)
    index = np.empty(n, dtype=np.int64)
    cnt = 0
    if loss == 2:
        y = np.empty(n)
        w = np.empty(nl + 1, dtype=np.float32)  # half the cache footprint of float64 on wide problems; same P@k
        work = np.empty(4 * n)
        for j in range(j_lo, j_hi):
            y[:] = -1.0
            for k in range(pos_ptr[j], pos_ptr[j + 1]):
                y[pos_idx[k]] = 1.0
            solve_binary(lp, li, ld, xsq, y, nl, bias, Cp, Cn, loss, eps, max_iter, seed + j, w, work, index)
            feat, val, cnt = _keep(w, 1, 0, nl, l2g, n_feat, bias, threshold, feat, val, cnt)
            ptr[j - j_lo + 1] = cnt
        return ptr, feat[:cnt].copy(), val[:cnt].copy()
    B = MULTI
    W = np.empty((nl + 1) * B, dtype=np.float32)
    Y = np.empty(n * B, dtype=np.int8)
    alpha = np.empty(n * B)
    act = np.empty(n * B, dtype=np.int8)
    for j0 in range(j_lo, j_hi, B):
        nb = min(B, j_hi - j0)
        Y[:] = -1
        for b in range(nb):
            for k in range(pos_ptr[j0 + b], pos_ptr[j0 + b + 1]):
                Y[pos_idx[k] * B + b] = 1
        solve_svm_dual_multi(lp, li, ld, xsq, Y, nb, nl, bias, Cp, Cn, loss == 1, eps, max_iter, seed + j0, W,
                             alpha, act, index)
        for b in range(nb):
            feat, val, cnt = _keep(W, B, b, nl, l2g, n_feat, bias, threshold, feat, val, cnt)
            ptr[j0 - j_lo + b + 1] = cnt
    return ptr, feat[:cnt].copy(), val[:cnt].copy()


def make_jobs(
    X: sp.csr_matrix, active: list[np.ndarray], children_ptr: np.ndarray, threads: int
) -> list[tuple[int, int, int, float]]:
    """(parent, child_lo, child_hi, cost) jobs, longest first. A parent is compacted once and shared by all
    its jobs; a parent costing more than 1/(8 threads) of the level is cut into slices of its children (whole
    groups of ``MULTI``), so the last jobs are short and both cores finish together (the root is one parent)."""
    row_nnz = np.diff(X.indptr)
    cost = []
    for p, inst in enumerate(active):
        n_child = int(children_ptr[p + 1] - children_ptr[p])
        cost.append((float(row_nnz[inst].sum()) + len(inst)) * n_child)
    share = sum(cost) / (8 * threads) if threads > 1 else np.inf
    jobs = []
    for p in range(len(active)):
        lo, hi = int(children_ptr[p]), int(children_ptr[p + 1])
        groups = -(-(hi - lo) // MULTI)  # slices are whole groups of MULTI children (solved together)
        pieces = 1 if share == np.inf else int(min(groups, max(1, np.ceil(cost[p] / share))))
        edges = np.minimum(lo + MULTI * np.linspace(0, groups, pieces + 1).round().astype(int), hi)
        for a, b in zip(edges[:-1], edges[1:]):
            if b > a:
                jobs.append((p, int(a), int(b), cost[p] * (b - a) / max(hi - lo, 1)))
    jobs.sort(key=lambda j: (-j[3], j[0], j[1]))
    return jobs


class _ParentCache:
    """Compacted parents shared by the threads: built by the first job that needs one, dropped after its last."""

    def __init__(self, jobs, build):
        self.build = build
        self.left = {}
        for p, *_ in jobs:
            self.left[p] = self.left.get(p, 0) + 1
        self.data: dict[int, tuple] = {}
        self.locks = {p: threading.Lock() for p in self.left}
        self.lock = threading.Lock()

    def get(self, p: int, scratch: dict):
        with self.locks[p]:
            if p not in self.data:
                self.data[p] = self.build(p, scratch)
            return self.data[p]

    def done(self, p: int) -> None:
        with self.lock:
            self.left[p] -= 1
            if self.left[p] == 0:
                self.data.pop(p, None)


def train_level(
    X: sp.csr_matrix,
    Yt: sp.csc_matrix,
    active: list[np.ndarray],
    children_ptr: np.ndarray,
    *,
    bias: float,
    Cp: float,
    Cn: float,
    loss: int,
    eps: float,
    max_iter: int,
    threshold: float,
    seed: int,
    threads: int,
    child_type=np.uint16,
    progress: Callable[[int], None] | None = None,
) -> LevelPart:
    """Weights of one level, packed per parent for beam search (:class:`LevelPart`; global feature ids, the
    bias as feature ``n_features``). A parent is regrouped as soon as its last job finishes and its jobs'
    outputs dropped, so the level never exists as a whole matrix besides its packed form."""
    n, d = X.shape
    x_indptr = X.indptr.astype(np.int64, copy=False)
    y_indptr = Yt.indptr.astype(np.int64, copy=False)
    y_indices = Yt.indices.astype(np.int64, copy=False)
    kids = np.ascontiguousarray(children_ptr, dtype=np.int64)

    def scratch():
        return {"colmap": np.full(d, -1, np.int64), "instmap": np.full(n, -1, np.int64)}

    def build(p, s):
        lo, hi = int(kids[p]), int(kids[p + 1])
        return compact_parent(x_indptr, X.indices, X.data, d, active[p], y_indptr, y_indices, lo, hi, bias,
                              s["colmap"], s["instmap"])

    jobs = make_jobs(X, active, kids, threads)
    cache = _ParentCache(jobs, build)
    parents: list = [None] * (len(kids) - 1)
    slices: dict[int, list] = {}
    left = {p: c for p, c in cache.left.items()}
    lock = threading.Lock()

    def run(job, s):
        p, lo, hi, _ = job
        base = int(kids[p])
        lp, li, ld, l2g, xsq, pos_ptr, pos_idx = cache.get(p, s)
        out = solve_children(lp, li, ld, l2g, xsq, pos_ptr, pos_idx, lo - base, hi - base, d, bias, Cp, Cn,
                             loss, eps, max_iter, threshold, seed + base)
        cache.done(p)
        with lock:
            slices.setdefault(p, []).append((lo, out))
            left[p] -= 1
            last = left[p] == 0
            mine = slices.pop(p) if last else None
        if last:  # regroup the parent's children (in child order) by feature, in this thread
            mine.sort(key=lambda x: x[0])
            if len(mine) == 1:
                ptr, feat, val = mine[0][1]
            else:
                offs = np.cumsum([0] + [len(o[1]) for _, o in mine])
                ptr = np.concatenate([[0]] + [o[0][1:] + offs[k] for k, (_, o) in enumerate(mine)])
                feat = np.concatenate([o[1] for _, o in mine])
                val = np.concatenate([o[2] for _, o in mine])
            del mine
            parents[p] = pack_entries(ptr, feat, val, child_type)
        return hi - lo

    thread_map(run, jobs, threads, scratch, progress)
    release_free_memory()  # the jobs' outputs and compacted parents (see memory.py)
    return LevelPart(kids, parents)
