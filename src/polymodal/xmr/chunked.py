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

from .memory import TrimEvery, release_free_memory
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
        if self.ent_child.dtype not in (np.uint8, np.uint16) or full:
            _check_child_ranges(self.chunk_ent, np.diff(self.child_ptr), self.ent_child)
        if full and not np.isfinite(self.ent_val).all():
            raise ValueError("weights hold NaN or infinite values")

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


def _check_child_ranges(chunk_ent: np.ndarray, n_children: np.ndarray, ent_child: np.ndarray) -> None:
    """Every entry's child offset lies inside its own parent's children (chunk p = parent p, entries
    ``chunk_ent[p]:chunk_ent[p+1]``). The kernels index per-parent score buffers with these offsets unchecked."""
    lens = np.diff(chunk_ent)
    nz = np.flatnonzero(lens)
    if not len(nz):
        return
    most = np.maximum.reduceat(ent_child, chunk_ent[nz].astype(np.int64))
    bad = np.flatnonzero(most.astype(np.int64) >= n_children[nz])
    if len(bad):
        p = int(nz[bad[0]])
        raise ValueError(f"parent {p} has a weight for child {int(most[bad[0]])} of its {int(n_children[p])}")


@njit(nogil=True, cache=True)
def pack_parent(ptr, feat, val, ent_child, ent_val):
    """One parent's weights given child by child (``feat[ptr[c]:ptr[c+1]]``: global feature ids of child c),
    regrouped by feature into ``ent_child``/``ent_val`` (preallocated, ``ptr[-1]`` long; children ascending
    within a feature). Returns the parent's rows: (row_feat int32, row_len int32)."""
    nnz = ptr[-1]
    order = np.argsort(feat[:nnz], kind="mergesort")  # stable: children stay ascending within a feature
    col = np.empty(nnz, dtype=np.int64)
    for c in range(len(ptr) - 1):
        col[ptr[c] : ptr[c + 1]] = c
    n_rows = 0
    for j in range(nnz):
        if j == 0 or feat[order[j]] != feat[order[j - 1]]:
            n_rows += 1
    row_feat = np.empty(n_rows, dtype=np.int32)
    row_len = np.zeros(n_rows, dtype=np.int32)
    r = -1
    for j in range(nnz):
        k = order[j]
        if j == 0 or feat[k] != feat[order[j - 1]]:
            r += 1
            row_feat[r] = feat[k]
        row_len[r] += 1
        ent_child[j] = col[k]
        ent_val[j] = val[k]
    return row_feat, row_len


@dataclass
class LevelPart:
    """One level regrouped per parent: ``parents[p]`` = (row_feat, row_len, ent_child, ent_val) of parent p's
    chunk (see :func:`pack_parent`); :func:`assemble` concatenates the levels."""

    kids: np.ndarray  # (K_{t-1} + 1) children pointers
    parents: list


def pack_level(W: sp.csc_matrix, kids: np.ndarray, child_type) -> LevelPart:
    """Regroup one level's CSC weights ((d+1) x K_t) per parent (the trainer packs each parent as it is trained;
    this is for weights given as matrices)."""
    W = sp.csc_matrix(W)
    kids = np.ascontiguousarray(kids, dtype=np.int64)
    w_ptr = W.indptr.astype(np.int64)
    feat = W.indices.astype(np.int32, copy=False)
    val = W.data.astype(np.float32, copy=False)
    parents = []
    for p in range(len(kids) - 1):
        lo, hi = kids[p], kids[p + 1]
        a, b = w_ptr[lo], w_ptr[hi]
        parents.append(pack_entries(w_ptr[lo : hi + 1] - a, feat[a:b], val[a:b], child_type))
    return LevelPart(kids, parents)


def pack_entries(ptr: np.ndarray, feat: np.ndarray, val: np.ndarray, child_type) -> tuple:
    """:func:`pack_parent` with its outputs allocated: (row_feat, row_len, ent_child, ent_val)."""
    nnz = int(ptr[-1])
    ent_child = np.empty(nnz, dtype=child_type)
    ent_val = np.empty(nnz, dtype=np.float32)
    row_feat, row_len = pack_parent(np.ascontiguousarray(ptr, dtype=np.int64), feat, val, ent_child, ent_val)
    return row_feat, row_len, ent_child, ent_val


def assemble(parts: list[LevelPart], consume: bool = True) -> ChunkedWeights:
    """Concatenate packed levels into the flat arrays with absolute offsets, building each chunk's hash table
    as its parent is copied. With ``consume`` each parent's arrays are released once copied (and the slots are
    written chunk by chunk), so the levels and the result are in memory together one parent at a time."""
    n_ptr = sum(len(p.kids) for p in parts)
    n_ent = sum(len(q[3]) for p in parts for q in p.parents)
    child_type = next((q[2].dtype for p in parts for q in p.parents), np.uint8)
    coff = np.zeros(len(parts) + 1, dtype=np.int64)
    chunk_ptr = np.empty(n_ptr, dtype=np.int64)
    chunk_ent = np.empty(n_ptr, dtype=np.int64)
    child_ptr = np.empty(n_ptr, dtype=np.int64)
    hash_off = np.zeros(n_ptr, dtype=np.int64)
    hash_mask = np.zeros(n_ptr, dtype=np.int64)
    total = 0
    for t, part in enumerate(parts):
        coff[t + 1] = coff[t] + len(part.kids)
        for p, q in enumerate(part.parents):
            size = table_size(len(q[0]))
            hash_off[coff[t] + p] = total
            hash_mask[coff[t] + p] = size - 1
            total += size
    ent_child = np.empty(n_ent, dtype=child_type)
    ent_val = np.empty(n_ent, dtype=np.float32)
    slots = np.empty(3 * total, dtype=np.int32)  # pages are committed as chunks are filled
    trim = TrimEvery()
    r0 = e0 = 0
    for t, part in enumerate(parts):
        k0 = coff[t]
        child_ptr[k0 : coff[t + 1]] = part.kids
        for p in range(len(part.parents)):
            row_feat, row_len, child, val = part.parents[p]
            if consume:
                part.parents[p] = None
            ne = len(val)
            chunk_ptr[k0 + p] = r0
            chunk_ent[k0 + p] = e0
            ent_child[e0 : e0 + ne] = child
            ent_val[e0 : e0 + ne] = val
            fill_chunk(row_feat, row_len, hash_off[k0 + p], hash_mask[k0 + p], slots)
            r0 += len(row_feat)
            e0 += ne
            if consume:
                trim.freed(row_feat.nbytes + row_len.nbytes + child.nbytes + val.nbytes)
            del row_feat, row_len, child, val
        chunk_ptr[coff[t + 1] - 1] = r0
        chunk_ent[coff[t + 1] - 1] = e0
        if consume:
            part.parents = []
    if consume:
        release_free_memory()
    return ChunkedWeights(coff=coff, chunk_ptr=chunk_ptr, row_feat=None, row_ptr=None, ent_child=ent_child,
                          ent_val=ent_val, child_ptr=child_ptr, chunk_ent=chunk_ent, hash_off=hash_off,
                          hash_mask=hash_mask, hash_slots=slots)


def tree_child_type(tree: ClusterTree):
    return child_dtype(max(int(np.max(np.diff(p))) for p in tree.ptrs))


def pack(levels: list[sp.csc_matrix], tree: ClusterTree) -> ChunkedWeights:
    """Regroup per-level CSC weights ((d+1) x K_t) into the chunked layout."""
    ct = tree_child_type(tree)
    return assemble([pack_level(W, tree.ptrs[t], ct) for t, W in enumerate(levels)])


@njit(cache=True, inline="always")
def feature_hash(f):
    return (np.uint64(f) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)


@njit(cache=True)
def table_size(rows):
    """Slots of a chunk's hash table: the smallest power of two >= 2 with load factor <= 0.75."""
    size = 2
    while 3 * size < 4 * rows:
        size *= 2
    return size


@njit(cache=True, nogil=True)
def fill_chunk(row_feat, row_len, base, mask, slots):
    """Write one chunk's table, slots 3 * (base .. base + mask) + (0, 1, 2): (feature or -1 if empty, first
    entry of its row relative to the chunk's first entry, number of entries); linear probing."""
    for h in range(mask + 1):
        slots[3 * (base + h)] = -1
        slots[3 * (base + h) + 1] = 0
        slots[3 * (base + h) + 2] = 0
    start = 0
    for r in range(len(row_feat)):
        f = row_feat[r]
        h = np.int64(feature_hash(f)) & mask
        while slots[3 * (base + h)] != -1:
            h = (h + 1) & mask
        s = 3 * (base + h)
        slots[s] = f
        slots[s + 1] = start
        slots[s + 2] = row_len[r]
        start += row_len[r]
        if start > 2**31 - 1:
            raise ValueError("a parent's children hold more than 2**31 - 1 weights")


@njit(cache=True)
def build_hash(coff, chunk_ptr, row_feat, row_ptr):
    """Per-chunk hash tables from flat row arrays (a compact file's rows): (hash_off, hash_mask, slots)."""
    n = len(chunk_ptr)
    off = np.zeros(n, dtype=np.int64)
    mask = np.zeros(n, dtype=np.int64)
    total = 0
    for t in range(len(coff) - 1):
        for q in range(coff[t], coff[t + 1] - 1):
            size = table_size(chunk_ptr[q + 1] - chunk_ptr[q])
            off[q] = total
            mask[q] = size - 1
            total += size
    slots = np.empty(3 * total, dtype=np.int32)
    for t in range(len(coff) - 1):
        for q in range(coff[t], coff[t + 1] - 1):
            r0 = chunk_ptr[q]
            r1 = chunk_ptr[q + 1]
            row_len = (row_ptr[r0 + 1 : r1 + 1] - row_ptr[r0:r1]).astype(np.int32)
            fill_chunk(row_feat[r0:r1], row_len, off[q], mask[q], slots)
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

