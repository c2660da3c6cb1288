"""Beam search over the label tree (numba kernels on the chunked weights).

For a query x (bias feature appended) and a node k with parent p, the level score is s_k = w_k . x and the
path score is ``combine(score(p), post(s_k))``:
- ``l3-hinge``: post(s) = exp(-max(0, 1 - s)^3), combined by product down the path (PECOS's default);
- ``sigmoid``:  post(s) = 1 / (1 + exp(-s)), product down the path;
- ``noop``:     the raw child score s_k, no combination.
At every internal level the ``beam_size`` best nodes are kept; at the last level the ``topk`` best labels.
Ties keep the candidate met first.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .chunked import feature_hash

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


@njit(nogil=True, cache=True, inline="always")
def _add_feature(f, v, e0, e1, hbase, hmask, slots, ent_child, ent_val, out):
    """out[child] += v * w_{f,child} for the chunk's row of feature f, found in the chunk's hash table (slots of
    (feature, first entry - e0, entry count), linear probing; absent feature: no-op).

    Memory-mapped models are not scanned at load, so a corrupt file must not crash here: at most ``hmask + 1``
    probes, an entry range outside the chunk's ``e0 .. e1`` is skipped, and ``out`` is as wide as the largest
    value the child-offset type can hold (see ``ChunkedWeights.scratch_width``)."""
    h = np.int64(feature_hash(f)) & hmask
    for _ in range(hmask + 1):
        s = 3 * (hbase + h)
        k = slots[s]
        if k == f:
            a = e0 + slots[s + 1]
            b = a + slots[s + 2]
            if a < e0 or b > e1:
                return
            for e in range(a, b):
                out[ent_child[e]] += v * ent_val[e]
            return
        if k == -1:
            return
        h = (h + 1) & hmask


@njit(nogil=True, cache=True)
def score_chunk(q_idx, q_val, e0, e1, hbase, hmask, slots, ent_child, ent_val, out):
    """out[child] += sum over query features f present in the chunk of x_f * w_{f,child} (hash lookups)."""
    for j in range(len(q_idx)):
        _add_feature(q_idx[j], q_val[j], e0, e1, hbase, hmask, slots, ent_child, ent_val, out)


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
def search_one(q_idx, q_val, coff, chunk_ent, hoff, hmask, slots, ent_child, ent_val, child_ptr,
               n_levels, beam, keep_last, post, tmp, cur_n, cur_s, flat_n, flat_s, allow, aoff):
    """Beam search for one query down ``n_levels`` levels; returns the count m of results in cur_n/cur_s[:m].
    ``flat_n``/``flat_s`` hold at least (max(beam, keep_last) * max_children) candidates.
    Constrained search: when ``allow`` is non-empty, node c of level t + 1 is a candidate only where
    ``allow[aoff[t] + c]`` is non-zero (the search then never leaves the allowed subtree)."""
    masked = len(allow) > 0
    cnt = 1
    cur_n[0] = 0
    cur_s[0] = 1.0
    for t in range(n_levels):
        keep = keep_last if t == n_levels - 1 else beam
        m = 0
        base = coff[t]
        for b in range(cnt):
            p = cur_n[b]
            c_lo = child_ptr[base + p]
            nc = child_ptr[base + p + 1] - c_lo
            for j in range(nc):
                tmp[j] = 0.0
            q = base + p
            score_chunk(q_idx, q_val, chunk_ent[q], chunk_ent[q + 1], hoff[q], hmask[q], slots, ent_child, ent_val,
                        tmp)
            ps = cur_s[b]
            for j in range(nc):
                if masked and allow[aoff[t] + c_lo + j] == 0:
                    continue
                flat_n[m] = c_lo + j
                flat_s[m] = _post(tmp[j], post, ps)
                m += 1
        cnt = _select(flat_n, flat_s, m, keep, cur_n, cur_s)
        if cnt == 0:
            return 0
    return cnt


@njit(nogil=True, cache=True)
def _select(flat_n, flat_s, m, keep, cur_n, cur_s):
    """The ``keep`` best of m candidates into cur_n/cur_s (descending; ties keep the earlier candidate)."""
    if keep > 32:
        # the keep-th best score by quickselect, then a stable sort of only the candidates at or above it
        # (the earliest ones among ties), as a stable sort of all m would order them
        c = min(keep, m)
        if c == 0:
            return 0
        kth = -np.partition(-flat_s[:m], c - 1)[c - 1]
        above = 0
        for j in range(m):
            if flat_s[j] > kth:
                above += 1
        ties = c - above
        sel = np.empty(c, dtype=np.int64)
        i = 0
        for j in range(m):
            s = flat_s[j]
            if s > kth or (s == kth and ties > 0):
                if s == kth:
                    ties -= 1
                sel[i] = j
                i += 1
        order = np.argsort(-flat_s[sel], kind="mergesort")
        for j in range(c):
            cur_n[j] = flat_n[sel[order[j]]]
            cur_s[j] = flat_s[sel[order[j]]]
        return c
    c = 0
    for j in range(m):
        c = _insert(cur_n, cur_s, c, keep, flat_n[j], flat_s[j])
    return c


@njit(nogil=True, cache=True)
def _score_row(x_indices, x_data, a, b, n_feat, bias, e0, e1, hbase, hmask, slots, ent_child, ent_val, out):
    """score_chunk for CSR row entries a..b plus the bias feature, without copying the row."""
    for j in range(a, b + 1):
        if j < b:
            f = np.int64(x_indices[j])
            v = x_data[j]
        else:
            if bias <= 0:
                break
            f = n_feat
            v = bias
        _add_feature(f, v, e0, e1, hbase, hmask, slots, ent_child, ent_val, out)


@njit(nogil=True, cache=True)
def search_block(x_indptr, x_indices, x_data, r_lo, r_hi, n_feat, bias,
                 coff, chunk_ent, hoff, hmask, slots, ent_child, ent_val, child_ptr,
                 n_levels, beam, keep_last, post, max_children, scratch_width, out_nodes, out_scores):
    """Level-synchronous beam search for rows r_lo..r_hi: at each level the (query, beam node) pairs are
    grouped by node, so one chunk's weights are scored against all its queries while they sit in cache.
    Same results as :func:`search_one` per row."""
    nq = r_hi - r_lo
    width = max(beam, keep_last)
    cur_n = np.zeros((nq, width), dtype=np.int64)
    cur_s = np.ones((nq, width), dtype=np.float64)
    cnt = np.ones(nq, dtype=np.int64)
    cand_s = np.empty((nq, width * max_children), dtype=np.float64)
    cand_n = np.empty((nq, width * max_children), dtype=np.int64)
    cand_c = np.zeros((nq, width), dtype=np.int64)  # candidates of beam slot b sit at b * max_children
    tmp = np.empty(scratch_width, dtype=np.float32)
    flat_s = np.empty(width * max_children, dtype=np.float64)
    flat_n = np.empty(width * max_children, dtype=np.int64)
    for t in range(n_levels):
        keep = keep_last if t == n_levels - 1 else beam
        base = coff[t]
        n_nodes = coff[t + 1] - coff[t] - 1
        # counting sort of (query, slot) pairs by node
        start = np.zeros(n_nodes + 1, dtype=np.int64)
        for q in range(nq):
            for b in range(cnt[q]):
                start[cur_n[q, b] + 1] += 1
        for p in range(n_nodes):
            start[p + 1] += start[p]
        fill = start[:-1].copy()
        pairs = np.empty(start[n_nodes], dtype=np.int64)
        for q in range(nq):
            for b in range(cnt[q]):
                p = cur_n[q, b]
                pairs[fill[p]] = q * width + b
                fill[p] += 1
        for p in range(n_nodes):
            if start[p] == start[p + 1]:
                continue
            qn = base + p
            c_lo = child_ptr[qn]
            nc = child_ptr[qn + 1] - c_lo
            e0 = chunk_ent[qn]
            e1 = chunk_ent[qn + 1]
            for k in range(start[p], start[p + 1]):
                q = pairs[k] // width
                b = pairs[k] % width
                for j in range(nc):
                    tmp[j] = 0.0
                r = r_lo + q
                _score_row(x_indices, x_data, x_indptr[r], x_indptr[r + 1], n_feat, bias, e0, e1, hoff[qn],
                           hmask[qn], slots, ent_child, ent_val, tmp)
                ps = cur_s[q, b]
                o = b * max_children
                for j in range(nc):
                    cand_n[q, o + j] = c_lo + j
                    cand_s[q, o + j] = _post(tmp[j], post, ps)
                cand_c[q, b] = nc
        for q in range(nq):
            # visit candidates in (beam slot, child) order, as search_one does, so ties resolve the same way
            m = 0
            for b in range(cnt[q]):
                o = b * max_children
                for j in range(cand_c[q, b]):
                    flat_n[m] = cand_n[q, o + j]
                    flat_s[m] = cand_s[q, o + j]
                    m += 1
            c = _select(flat_n, flat_s, m, keep, cur_n[q], cur_s[q])
            cnt[q] = c
    for q in range(nq):
        for j in range(keep_last):
            if j < cnt[q]:
                out_nodes[r_lo + q, j] = cur_n[q, j]
                out_scores[r_lo + q, j] = cur_s[q, j]
            else:
                out_nodes[r_lo + q, j] = -1
                out_scores[r_lo + q, j] = 0.0
