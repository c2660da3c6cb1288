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
factor <= 0.75, linear probing; about 22 bytes per row), so a query feature is found with one or two probes into
a small table instead of a binary search over the chunk's rows. The slots then hold everything the row arrays
did, so ``row_feat``/``row_ptr`` are dropped once the tables are built and rebuilt from the slots (``rows()``)
only to write a compact file or a matrix.

Two layouts on disk:

- ``compact`` (default): ``row_ptr`` as per-row lengths (in the child type), rebuilt at load with the hash
  tables, so a model costs about 5 bytes per weight + 5 bytes per (chunk, feature) row, against 8 bytes per
  weight for a CSC matrix; loading reads and rebuilds everything.
- ``mmap`` (serving): every array the kernels read, hash tables and ``chunk_ent`` included, stored as used, so
  the file is memory-mapped and nothing is read or built at load (like PECOS's ``compile_mmap_model``). It costs
  about 5 bytes per weight + 22 per row. Load-time checks then cover only the per-chunk arrays (O(tree nodes));
  the kernels bound every probe and entry range, and their scratch buffers are as wide as the child-offset type
  (``scratch_width``), so a corrupt file gives wrong scores, never an out-of-bounds access.

``chunk_ent[q] = row_ptr[chunk_ptr[q]]``: the first entry of chunk q (and ``chunk_ent[q + 1]`` its end).
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
_SERVING = ("coff", "chunk_ptr", "ent_child", "ent_val", "child_ptr", "chunk_ent", "hash_off", "hash_mask",
            "hash_slots")
LAYOUTS = ("compact", "mmap")
_DTYPES = {"coff": np.int64, "chunk_ptr": np.int64, "row_feat": np.int32, "row_ptr": np.int64,
           "ent_val": np.float32, "child_ptr": np.int64, "chunk_ent": np.int64, "hash_off": np.int64,
           "hash_mask": np.int64, "hash_slots": np.int32}


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
    chunk_ent: np.ndarray | None = None
    hash_off: np.ndarray | None = None
    hash_mask: np.ndarray | None = None
    hash_slots: np.ndarray | None = None

    def __post_init__(self):
        if self.hash_slots is None:
            self.hash_off, self.hash_mask, self.hash_slots = build_hash(self.coff, self.chunk_ptr, self.row_feat,
                                                                        self.row_ptr)
        if self.chunk_ent is None:
            self.chunk_ent = np.ascontiguousarray(self.row_ptr[self.chunk_ptr])
        # the hash slots hold every row's feature and entry range: the row arrays (12 bytes a row) are dropped
        # and rebuilt from the slots by rows() when a compact file or a matrix is asked for
        self.row_feat = None
        self.row_ptr = None

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(row_feat, row_ptr): every (chunk, feature) row's feature and entry range, rebuilt from the hash
        tables (rows of a chunk are ordered by feature, so by first entry)."""
        return _rows_from_hash(self.coff, self.chunk_ptr, self.chunk_ent, self.hash_off, self.hash_mask,
                               self.hash_slots, np.empty(0, np.uint8))

    @property
    def mapped(self) -> bool:
        """Whether the weights are memory maps of a file (not read into memory)."""
        return isinstance(self.ent_val, np.memmap) or isinstance(getattr(self.ent_val, "base", None), np.memmap)

    def scratch_width(self, max_children: int) -> int:
        """Width of a per-chunk score buffer: every value of the child-offset type for 8- and 16-bit offsets
        (so no stored offset can index past it), else ``max_children`` (then offsets are checked at load)."""
        if self.ent_child.dtype in (np.uint8, np.uint16):
            return int(np.iinfo(self.ent_child.dtype).max) + 1
        return max_children

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

    def to_arrays(self, layout: str = "compact") -> dict[str, np.ndarray]:
        if layout == "mmap":
            return {f"weights.{k}": getattr(self, k) for k in _SERVING}
        row_len = np.empty(int(self.chunk_ptr[-1]) if len(self.chunk_ptr) else 0, dtype=self.ent_child.dtype)
        row_feat = _rows_from_hash(self.coff, self.chunk_ptr, self.chunk_ent, self.hash_off, self.hash_mask,
                                   self.hash_slots, row_len)[0]
        out = {f"weights.{k}": getattr(self, k) for k in ARRAYS if k not in ("row_ptr", "row_feat")}
        out["weights.row_feat"] = row_feat
        out["weights.row_len"] = row_len
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ChunkedWeights:
        """Weights from either layout; serving-layout arrays are used as given (memory maps stay maps)."""
        serving = "weights.hash_slots" in arrays
        names = _SERVING if serving else _STORED
        missing = [k for k in names if f"weights.{k}" not in arrays]
        if missing:
            raise ValueError(f"missing weight arrays: {missing}")
        child = arrays["weights.ent_child"]
        if child.dtype.kind not in "ui":
            raise ValueError(f"ent_child has dtype {child.dtype}, expected integers")
        if serving:
            got = {"row_feat": None, "row_ptr": None}
            for k in _SERVING:
                a = arrays[f"weights.{k}"]
                if k != "ent_child" and a.dtype != _DTYPES[k]:
                    raise ValueError(f"{k} has dtype {a.dtype}, expected {np.dtype(_DTYPES[k])}")
                if a.ndim != 1:
                    raise ValueError(f"{k} is not one-dimensional")
                got[k] = a
            return cls(**got)
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

    def validate(self, n_features: int, tree: ClusterTree, full: bool = True) -> None:
        """Structure checks against the tree. ``full=False`` (memory-mapped serving) checks only the per-chunk
        arrays, O(tree nodes), and touches no page of the entries, rows or hash slots."""
        if len(self.coff) != tree.depth + 1 or self.coff[0] != 0:
            raise ValueError("weights have a different depth than the tree")
        for t in range(tree.depth):
            p = self.child_ptr[self.coff[t] : self.coff[t + 1]]
            if not np.array_equal(p, tree.ptrs[t]):
                raise ValueError(f"level {t}: weights were laid out for another tree")
        n_chunks = int(self.coff[-1])
        for name in ("chunk_ptr", "chunk_ent", "hash_off", "hash_mask", "child_ptr"):
            if len(getattr(self, name)) != n_chunks:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n_chunks} chunk pointers")
        if len(self.ent_child) != len(self.ent_val):
            raise ValueError("entry arrays differ in length")
        ce = self.chunk_ent
        if len(ce) and (ce[0] != 0 or ce[-1] != len(self.ent_val) or np.any(np.diff(ce) < 0)):
            raise ValueError("chunk entry offsets do not cover the entries")
        size = self.hash_mask + 1
        if np.any(self.hash_off < 0) or np.any(size < 1) or np.any(size & (size - 1)) or \
                np.any(self.hash_off + size > len(self.hash_slots) // 3):
            raise ValueError("hash tables do not fit the hash slots")
        if len(self.hash_slots) % 3:
            raise ValueError("hash slots are not (feature, offset, count) triples")
        if not full and self.ent_child.dtype in (np.uint8, np.uint16):
            return  # the kernels cannot go out of bounds on these (see scratch_width): leave the pages unread
        row_feat, row_ptr = self.rows()  # raises when a chunk's slots do not hold exactly its rows
        if row_ptr[-1] != len(self.ent_val) or np.any(np.diff(row_ptr) < 1):
            raise ValueError("row pointers do not match the entries")
        if not np.array_equal(self.chunk_ent, row_ptr[self.chunk_ptr]):
            raise ValueError("chunk entry offsets disagree with the row pointers")
        if len(row_feat) and (row_feat.min() < 0 or row_feat.max() > n_features):
            raise ValueError("a weight refers to a feature beyond the model's feature count")
        if len(self.ent_child) and int(self.ent_child.max()) >= self.max_children():
            raise ValueError("a weight refers to a child beyond its parent's children")

    def level_matrix(self, t: int, n_features: int) -> sp.csc_matrix:
        """Level t+1's weights back as a CSC matrix ((n_features + 1) x K_{t+1})."""
        lo, hi = self.coff[t], self.coff[t + 1]
        cptr = self.chunk_ptr[lo:hi]
        kids = self.child_ptr[lo:hi]
        row_feat, row_ptr = self.rows()
        rows, cols, vals = [], [], []
        for p in range(len(cptr) - 1):
            r0, r1 = cptr[p], cptr[p + 1]
            e0, e1 = row_ptr[r0], row_ptr[r1]
            counts = np.diff(row_ptr[r0 : r1 + 1])
            rows.append(np.repeat(row_feat[r0:r1], counts))
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


@njit(nogil=True, cache=True)
def _rows(w_ptr, kids, feat):
    """Rows of the sorted entries: per parent the number of distinct features, and each row's feature and
    first entry."""
    n_par = len(kids) - 1
    count = np.zeros(n_par, dtype=np.int64)
    for p in range(n_par):
        a = w_ptr[kids[p]]
        b = w_ptr[kids[p + 1]]
        c = 0
        for e in range(a, b):
            if e == a or feat[e] != feat[e - 1]:
                c += 1
        count[p] = c
    n_rows = count.sum()
    row_feat = np.empty(n_rows, dtype=np.int32)
    row_start = np.empty(n_rows, dtype=np.int64)
    r = 0
    for p in range(n_par):
        a = w_ptr[kids[p]]
        b = w_ptr[kids[p + 1]]
        for e in range(a, b):
            if e == a or feat[e] != feat[e - 1]:
                row_feat[r] = feat[e]
                row_start[r] = e
                r += 1
    return count, row_feat, row_start


@dataclass
class LevelPart:
    """One level regrouped per parent, with level-local row and entry numbers (see :func:`assemble`)."""

    kids: np.ndarray  # (K_{t-1} + 1) children pointers
    rows_per_parent: np.ndarray
    row_feat: np.ndarray  # int32
    row_start: np.ndarray  # int64, level-local entry of each row
    ent_child: np.ndarray  # child offset within its parent, child_dtype(max children of the tree)
    ent_val: np.ndarray  # float32


def pack_level(W: sp.csc_matrix, kids: np.ndarray, child_type, threads: int = 1) -> LevelPart:
    """Regroup one level's CSC weights ((d+1) x K_t) per parent; parents are sorted on ``threads`` threads.
    Temporaries are 4-byte features and ``child_type`` offsets, so a level costs about 9 bytes per weight
    on top of its CSC matrix while it is packed."""
    W = sp.csc_matrix(W)
    kids = np.ascontiguousarray(kids, dtype=np.int64)
    n_par = len(kids) - 1
    w_ptr = W.indptr.astype(np.int64)
    nnz = int(w_ptr[-1])
    feat = np.empty(nnz, dtype=np.int32)
    child = np.empty(nnz, dtype=child_type)
    val = np.empty(nnz, dtype=np.float32)
    edges = np.searchsorted(w_ptr[kids], np.linspace(0, nnz, 4 * threads + 1)).clip(0, n_par)
    edges[0], edges[-1] = 0, n_par
    spans = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    w_feat = W.indices
    w_val = W.data.astype(np.float32, copy=False)
    thread_map(lambda sp_, _: _sort_parents(w_ptr, w_feat, w_val, kids, sp_[0], sp_[1], feat, child, val), spans,
               threads)
    count, row_feat, row_start = _rows(w_ptr, kids, feat)
    return LevelPart(kids, count, row_feat, row_start, child, val)


def assemble(parts: list[LevelPart]) -> ChunkedWeights:
    """Concatenate packed levels into the flat arrays with absolute offsets. ``parts`` is emptied as each level
    is copied, so the levels and the result are in memory together only one level at a time."""
    n_ent = sum(len(p.ent_val) for p in parts)
    n_rows = sum(len(p.row_feat) for p in parts)
    n_ptr = sum(len(p.kids) for p in parts)
    child_type = parts[0].ent_child.dtype if parts else np.uint8
    coff = np.zeros(len(parts) + 1, dtype=np.int64)
    chunk_ptr = np.empty(n_ptr, dtype=np.int64)
    child_ptr = np.empty(n_ptr, dtype=np.int64)
    row_feat = np.empty(n_rows, dtype=np.int32)
    row_ptr = np.empty(n_rows + 1, dtype=np.int64)
    ent_child = np.empty(n_ent, dtype=child_type)
    ent_val = np.empty(n_ent, dtype=np.float32)
    r0 = e0 = 0
    t = 0
    while parts:
        part = parts.pop(0)
        k0, k1 = coff[t], coff[t] + len(part.kids)
        coff[t + 1] = k1
        chunk_ptr[k0] = r0
        np.cumsum(part.rows_per_parent, out=chunk_ptr[k0 + 1 : k1])
        chunk_ptr[k0 + 1 : k1] += r0
        child_ptr[k0:k1] = part.kids
        nr, ne = len(part.row_feat), len(part.ent_val)
        row_feat[r0 : r0 + nr] = part.row_feat
        row_ptr[r0 : r0 + nr] = part.row_start + e0
        ent_child[e0 : e0 + ne] = part.ent_child
        ent_val[e0 : e0 + ne] = part.ent_val
        r0 += nr
        e0 += ne
        t += 1
        del part
    row_ptr[n_rows] = n_ent
    return ChunkedWeights(coff=coff, chunk_ptr=chunk_ptr, row_feat=row_feat, row_ptr=row_ptr, ent_child=ent_child,
                          ent_val=ent_val, child_ptr=child_ptr)


def tree_child_type(tree: ClusterTree):
    return child_dtype(max(int(np.max(np.diff(p))) for p in tree.ptrs))


def pack(levels: list[sp.csc_matrix], tree: ClusterTree, threads: int = 1) -> ChunkedWeights:
    """Regroup per-level CSC weights ((d+1) x K_t) into the chunked layout."""
    ct = tree_child_type(tree)
    return assemble([pack_level(W, tree.ptrs[t], ct, threads) for t, W in enumerate(levels)])


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


@njit(cache=True)
def _rows_from_hash(coff, chunk_ptr, chunk_ent, hoff, hmask, slots, row_len):
    """(row_feat, row_ptr) from the hash slots; with a non-empty ``row_len`` (the compact file's row lengths,
    filled in place) no row_ptr is built (an empty one is returned), saving 8 bytes a row."""
    n_rows = chunk_ptr[-1] if len(chunk_ptr) else 0
    lens = len(row_len) > 0
    row_feat = np.empty(n_rows, dtype=np.int32)
    row_ptr = np.empty(0 if lens else n_rows + 1, dtype=np.int64)
    counts = np.empty(0, dtype=np.int64)
    for t in range(len(coff) - 1):
        for q in range(coff[t], coff[t + 1] - 1):
            r0 = chunk_ptr[q]
            n = chunk_ptr[q + 1] - r0
            starts = np.empty(n, dtype=np.int64)
            feats = np.empty(n, dtype=np.int32)
            if lens:
                counts = np.empty(n, dtype=np.int64)
            m = 0
            for h in range(hmask[q] + 1):
                s = 3 * (hoff[q] + h)
                if slots[s] != -1:
                    if m == n:
                        raise ValueError("a chunk's hash table holds more rows than the chunk")
                    feats[m] = slots[s]
                    starts[m] = slots[s + 1]
                    if lens:
                        counts[m] = slots[s + 2]
                    m += 1
            if m != n:
                raise ValueError("a chunk's hash table holds fewer rows than the chunk")
            order = np.argsort(starts)
            for j in range(n):
                row_feat[r0 + j] = feats[order[j]]
                if lens:
                    row_len[r0 + j] = counts[order[j]]
                else:
                    row_ptr[r0 + j] = chunk_ent[q] + starts[order[j]]
    if not lens:
        row_ptr[n_rows] = chunk_ent[-1] if len(chunk_ent) else 0
    return row_feat, row_ptr

