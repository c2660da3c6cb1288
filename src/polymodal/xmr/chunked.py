"""Weights laid out for beam search ("chunked" like PECOS's inference matrices), all levels packed in flat arrays.

Beam search only ever scores all children of one parent at once, so each level's weight matrix is regrouped
per parent ("chunk"): the sorted features that any child of the parent uses (``row_feat``), and for each such
feature the (child, weight) pairs (``ent_child``, ``ent_val``, via ``row_ptr``). Scoring a chunk intersects the
query's sorted features with ``row_feat`` (binary search that only moves forward).

All levels are concatenated into seven flat arrays with absolute offsets, so one numba kernel can walk the tree
and the whole thing saves/loads as plain safetensors arrays:

- ``chunk_ptr``  (sum_t (K_t + 1)): for level t, node p -> rows ``chunk_ptr[coff[t] + p] : ..[+1]``
- ``row_feat``   (R): feature id of each row; ``row_ptr`` (R + 1): entries of each row
- ``ent_child`` (E: child offset within its parent, the smallest unsigned type that fits), ``ent_val`` (E, float32)
- ``child_ptr``  (sum_t (K_t + 1)): the tree's children pointers, same offsets ``coff``

At construction every chunk also gets an open-addressing hash table (feature -> its row's entry range, load
factor <= 0.75, linear probing; about 24 bytes per row, built in memory, never stored), so a query feature is
found with one or two probes into a small table instead of a binary search over the chunk's rows.

On disk ``row_ptr`` is stored as per-row lengths (in the child type) and rebuilt at load, so a model costs about
5 bytes per weight + 5 bytes per (chunk, feature) row, against 8 bytes per weight for a CSC matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .parallel import thread_map
from .tree import ClusterTree

ARRAYS = ("coff", "chunk_ptr", "row_feat", "row_ptr", "ent_child", "ent_val", "child_ptr")
_STORED = ("coff", "chunk_ptr", "row_feat", "row_len", "ent_child", "ent_val", "child_ptr")


def child_dtype(max_children: int):
    """Smallest unsigned integer type that holds a child offset (and a row length)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_children <= np.iinfo(dt).max:
            return dt
    return np.int64


@dataclass
class ChunkedWeights:
    coff: np.ndarray
    chunk_ptr: np.ndarray
    row_feat: np.ndarray
    row_ptr: np.ndarray
    ent_child: np.ndarray
    ent_val: np.ndarray
    child_ptr: np.ndarray

    def __post_init__(self):
        self.hash_off, self.hash_mask, self.hash_slots = build_hash(self.coff, self.chunk_ptr, self.row_feat,
                                                                    self.row_ptr)

    @property
    def depth(self) -> int:
        return len(self.coff) - 1

    @property
    def nnz(self) -> int:
        return len(self.ent_val)

    def max_children(self) -> int:
        out = 1
        for t in range(self.depth):
            p = self.child_ptr[self.coff[t] : self.coff[t + 1]]
            out = max(out, int(np.max(np.diff(p))))
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"weights.{k}": getattr(self, k) for k in ARRAYS if k != "row_ptr"}
        out["weights.row_len"] = np.diff(self.row_ptr).astype(self.ent_child.dtype)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ChunkedWeights:
        missing = [k for k in _STORED if f"weights.{k}" not in arrays]
        if missing:
            raise ValueError(f"missing weight arrays: {missing}")
        child = arrays["weights.ent_child"]
        if child.dtype.kind not in "ui":
            raise ValueError(f"ent_child has dtype {child.dtype}, expected integers")
        row_ptr = np.zeros(len(arrays["weights.row_len"]) + 1, dtype=np.int64)
        np.cumsum(arrays["weights.row_len"], out=row_ptr[1:])
        return cls(
            coff=np.ascontiguousarray(arrays["weights.coff"], dtype=np.int64),
            chunk_ptr=np.ascontiguousarray(arrays["weights.chunk_ptr"], dtype=np.int64),
            row_feat=np.ascontiguousarray(arrays["weights.row_feat"], dtype=np.int32),
            row_ptr=row_ptr,
            ent_child=np.ascontiguousarray(child),
            ent_val=np.ascontiguousarray(arrays["weights.ent_val"], dtype=np.float32),
            child_ptr=np.ascontiguousarray(arrays["weights.child_ptr"], dtype=np.int64),
        )

    def validate(self, n_features: int, tree: ClusterTree) -> None:
        if len(self.coff) != tree.depth + 1 or self.coff[0] != 0:
            raise ValueError("weights have a different depth than the tree")
        for t in range(tree.depth):
            p = self.child_ptr[self.coff[t] : self.coff[t + 1]]
            if not np.array_equal(p, tree.ptrs[t]):
                raise ValueError(f"level {t}: weights were laid out for another tree")
        if len(self.row_ptr) != len(self.row_feat) + 1 or self.row_ptr[-1] != len(self.ent_val):
            raise ValueError("row pointers do not match the entries")
        if len(self.ent_child) != len(self.ent_val):
            raise ValueError("entry arrays differ in length")
        if self.chunk_ptr[-1] != len(self.row_feat) or np.any(np.diff(self.row_ptr) < 0):
            raise ValueError("chunk pointers do not match the rows")
        if len(self.row_feat) and (self.row_feat.min() < 0 or self.row_feat.max() > n_features):
            raise ValueError("a weight refers to a feature beyond the model's feature count")

    def level_matrix(self, t: int, n_features: int) -> sp.csc_matrix:
        """Level t+1's weights back as a CSC matrix ((n_features + 1) x K_{t+1})."""
        lo, hi = self.coff[t], self.coff[t + 1]
        cptr = self.chunk_ptr[lo:hi]
        kids = self.child_ptr[lo:hi]
        rows, cols, vals = [], [], []
        for p in range(len(cptr) - 1):
            r0, r1 = cptr[p], cptr[p + 1]
            e0, e1 = self.row_ptr[r0], self.row_ptr[r1]
            counts = np.diff(self.row_ptr[r0 : r1 + 1])
            rows.append(np.repeat(self.row_feat[r0:r1], counts))
            cols.append(self.ent_child[e0:e1].astype(np.int64) + kids[p])
            vals.append(self.ent_val[e0:e1])
        K = int(kids[-1])
        return sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_features + 1, K)
        )


@njit(nogil=True, cache=True)
def _sort_parents(w_ptr, w_feat, w_val, kids, p_lo, p_hi, feat, child, val):
    """For parents p_lo..p_hi, order each parent's entries by (feature, child) into feat/child/val (entries of
    parent p keep their range w_ptr[kids[p]] : w_ptr[kids[p+1]])."""
    for p in range(p_lo, p_hi):
        a = w_ptr[kids[p]]
        b = w_ptr[kids[p + 1]]
        if b == a:
            continue
        col = np.empty(b - a, dtype=np.int64)
        for c in range(kids[p], kids[p + 1]):
            col[w_ptr[c] - a : w_ptr[c + 1] - a] = c - kids[p]
        order = np.argsort(w_feat[a:b], kind="mergesort")  # stable: children stay ascending within a feature
        for j in range(b - a):
            k = a + order[j]
            feat[a + j] = w_feat[k]
            child[a + j] = col[order[j]]
            val[a + j] = w_val[k]


def _sorted_entries(w_ptr, w_feat, w_val, kids, threads):
    """:func:`_sort_parents` over all parents, in spans of similar entry counts on ``threads`` threads."""
    n_par = len(kids) - 1
    nnz = int(w_ptr[-1])
    feat = np.empty(nnz, dtype=np.int64)
    child = np.empty(nnz, dtype=np.int64)
    val = np.empty(nnz, dtype=np.float32)
    edges = np.searchsorted(w_ptr[kids], np.linspace(0, nnz, 4 * threads + 1)).clip(0, n_par)
    edges[0], edges[-1] = 0, n_par
    spans = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    thread_map(lambda s, _: _sort_parents(w_ptr, w_feat, w_val, kids, s[0], s[1], feat, child, val), spans,
               threads)
    return feat, child, val


def pack(levels: list[sp.csc_matrix], tree: ClusterTree, threads: int = 1) -> ChunkedWeights:
    """Regroup per-level CSC weights ((d+1) x K_t) into the chunked layout; parents are sorted on ``threads``."""
    coff = [0]
    chunk_ptr, row_feat, row_ptr_parts, ent_child, ent_val, child_ptr = [], [], [], [], [], []
    n_rows = 0
    n_ent = 0
    for t, W in enumerate(levels):
        W = sp.csc_matrix(W)
        kids = tree.ptrs[t].astype(np.int64)
        n_par = len(kids) - 1
        w_ptr = W.indptr.astype(np.int64)
        feat, child, val = _sorted_entries(w_ptr, W.indices, W.data, kids, threads)
        parent = np.repeat(np.arange(n_par), np.diff(w_ptr[kids]))
        new_row = np.ones(len(feat), dtype=bool)
        new_row[1:] = (parent[1:] != parent[:-1]) | (feat[1:] != feat[:-1])
        starts = np.flatnonzero(new_row)
        cptr = np.zeros(len(kids), dtype=np.int64)
        np.cumsum(np.bincount(parent[starts], minlength=n_par), out=cptr[1:])
        chunk_ptr.append(cptr + n_rows)
        row_feat.append(feat[starts])
        row_ptr_parts.append(starts + n_ent)
        ent_child.append(child)
        ent_val.append(val)
        child_ptr.append(kids)
        n_rows += len(starts)
        n_ent += len(feat)
        coff.append(coff[-1] + len(kids))
    row_ptr = np.concatenate(row_ptr_parts + [np.array([n_ent])]).astype(np.int64)
    max_children = max(int(np.max(np.diff(k))) for k in child_ptr)
    return ChunkedWeights(
        coff=np.array(coff, dtype=np.int64),
        chunk_ptr=np.concatenate(chunk_ptr).astype(np.int64),
        row_feat=np.concatenate(row_feat).astype(np.int32),
        row_ptr=row_ptr,
        ent_child=np.concatenate(ent_child).astype(child_dtype(max_children)),
        ent_val=np.concatenate(ent_val).astype(np.float32),
        child_ptr=np.concatenate(child_ptr).astype(np.int64),
    )


@njit(cache=True, inline="always")
def feature_hash(f):
    return (np.uint64(f) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)


@njit(cache=True)
def build_hash(coff, chunk_ptr, row_feat, row_ptr):
    """Per-chunk hash tables: chunk q's slots are 3 * (off[q] .. off[q] + mask[q]) + (0, 1, 2) of ``slots``:
    (feature or -1 if empty, first entry of its row minus the chunk's first entry, number of entries). A hit
    reads one slot and then the entries, without going through ``row_ptr``."""
    n = len(chunk_ptr)
    off = np.zeros(n, dtype=np.int64)
    mask = np.zeros(n, dtype=np.int64)
    total = 0
    for t in range(len(coff) - 1):
        for q in range(coff[t], coff[t + 1] - 1):
            rows = chunk_ptr[q + 1] - chunk_ptr[q]
            size = 2
            while 3 * size < 4 * rows:
                size *= 2
            off[q] = total
            mask[q] = size - 1
            total += size
    slots = np.zeros(3 * total, dtype=np.int32)
    slots[0::3] = -1
    for t in range(len(coff) - 1):
        for q in range(coff[t], coff[t + 1] - 1):
            r0 = chunk_ptr[q]
            e0 = row_ptr[r0]
            if row_ptr[chunk_ptr[q + 1]] - e0 > 2**31 - 1:
                raise ValueError("a parent's children hold more than 2**31 - 1 weights")
            m = mask[q]
            base = off[q]
            for r in range(r0, chunk_ptr[q + 1]):
                f = row_feat[r]
                h = np.int64(feature_hash(f)) & m
                while slots[3 * (base + h)] != -1:
                    h = (h + 1) & m
                s = 3 * (base + h)
                slots[s] = f
                slots[s + 1] = row_ptr[r] - e0
                slots[s + 2] = row_ptr[r + 1] - row_ptr[r]
    return off, mask, slots
