"""Beam search over the label tree (numba kernels on the chunked weights).

For a query x (bias feature appended) and a node k with parent p, the level score is s_k = w_k . x and the
path score is ``combine(score(p), post(s_k))``:
- ``l3-hinge``: post(s) = exp(-max(0, 1 - s)^3), combined by product down the path (PECOS's default);
- ``sigmoid``:  post(s) = 1 / (1 + exp(-s)), product down the path;
- ``noop``:     the raw child score s_k, no combination.
At every internal level the ``beam_size`` best nodes are kept; at the last level the ``topk`` best labels.
Ties keep the node with the smaller id.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

POST = {"noop": 0, "sigmoid": 1, "l3-hinge": 2}


@njit(nogil=True, cache=True, inline="always")
def _post(s, kind, parent):
    if kind == 2:
        h = 1.0 - s
        if h < 0.0:
            h = 0.0
        return parent * math.exp(-h * h * h)
    if kind == 1:
        return parent / (1.0 + math.exp(-s))
    return s


@njit(nogil=True, cache=True)
def score_chunk(q_idx, q_val, r0, r1, row_feat, row_ptr, ent_child, ent_val, out):
    """out[child] += sum over features f in both the query and rows r0..r1 of x_f * w_{f,child}."""
    lo = r0
    for j in range(len(q_idx)):
        f = q_idx[j]
        hi = r1
        while lo < hi:
            mid = (lo + hi) >> 1
            if row_feat[mid] < f:
                lo = mid + 1
            else:
                hi = mid
        if lo >= r1:
            break
        if row_feat[lo] == f:
            v = q_val[j]
            for e in range(row_ptr[lo], row_ptr[lo + 1]):
                out[ent_child[e]] += v * ent_val[e]
            lo += 1


@njit(nogil=True, cache=True, inline="always")
def _insert(top_n, top_s, cnt, keep, node, s):
    """Insert (node, s) into the descending top list; returns the new count."""
    if cnt == keep and s <= top_s[cnt - 1]:
        return cnt
    j = cnt if cnt < keep else keep - 1
    while j > 0 and top_s[j - 1] < s:
        top_s[j] = top_s[j - 1]
        top_n[j] = top_n[j - 1]
        j -= 1
    top_s[j] = s
    top_n[j] = node
    return cnt + 1 if cnt < keep else cnt


@njit(nogil=True, cache=True)
def search_one(q_idx, q_val, coff, chunk_ptr, row_feat, row_ptr, ent_child, ent_val, child_ptr,
               n_levels, beam, keep_last, post, tmp, cur_n, cur_s, nxt_n, nxt_s):
    """Beam search for one query down ``n_levels`` levels; returns the count m of results in cur_n/cur_s[:m]."""
    cnt = 1
    cur_n[0] = 0
    cur_s[0] = 1.0
    for t in range(n_levels):
        keep = keep_last if t == n_levels - 1 else beam
        ncnt = 0
        base = coff[t]
        for b in range(cnt):
            p = cur_n[b]
            c_lo = child_ptr[base + p]
            nc = child_ptr[base + p + 1] - c_lo
            for j in range(nc):
                tmp[j] = 0.0
            score_chunk(q_idx, q_val, chunk_ptr[base + p], chunk_ptr[base + p + 1],
                        row_feat, row_ptr, ent_child, ent_val, tmp)
            ps = cur_s[b]
            for j in range(nc):
                ncnt = _insert(nxt_n, nxt_s, ncnt, keep, c_lo + j, _post(tmp[j], post, ps))
        for b in range(ncnt):
            cur_n[b] = nxt_n[b]
            cur_s[b] = nxt_s[b]
        cnt = ncnt
    return cnt


@njit(nogil=True, cache=True)
def search_rows(x_indptr, x_indices, x_data, r_lo, r_hi, n_feat, bias,
                coff, chunk_ptr, row_feat, row_ptr, ent_child, ent_val, child_ptr,
                n_levels, beam, keep_last, post, max_children, out_nodes, out_scores):
    """Beam search for CSR rows r_lo..r_hi; writes node ids (-1 padded) and scores of the last level searched."""
    tmp = np.empty(max_children, dtype=np.float32)
    width = max(beam, keep_last)
    cur_n = np.empty(width, dtype=np.int64)
    cur_s = np.empty(width, dtype=np.float64)
    nxt_n = np.empty(width, dtype=np.int64)
    nxt_s = np.empty(width, dtype=np.float64)
    q_idx = np.empty(0, dtype=np.int64)
    q_val = np.empty(0, dtype=np.float32)
    for r in range(r_lo, r_hi):
        a = x_indptr[r]
        b = x_indptr[r + 1]
        m = b - a + (1 if bias > 0 else 0)
        if len(q_idx) < m:
            q_idx = np.empty(2 * m, dtype=np.int64)
            q_val = np.empty(2 * m, dtype=np.float32)
        for k in range(a, b):
            q_idx[k - a] = x_indices[k]
            q_val[k - a] = x_data[k]
        if bias > 0:
            q_idx[m - 1] = n_feat
            q_val[m - 1] = bias
        cnt = search_one(q_idx[:m], q_val[:m], coff, chunk_ptr, row_feat, row_ptr, ent_child, ent_val,
                         child_ptr, n_levels, beam, keep_last, post, tmp, cur_n, cur_s, nxt_n, nxt_s)
        for j in range(keep_last):
            if j < cnt:
                out_nodes[r, j] = cur_n[j]
                out_scores[r, j] = cur_s[j]
            else:
                out_nodes[r, j] = -1
                out_scores[r, j] = 0.0
