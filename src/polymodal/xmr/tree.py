"""The label tree (PECOS's cluster chain) that every indexer produces: k-means, trie, hybrid.

Levels are numbered 0 (the root, one node) to ``depth`` (the labels). ``ptrs[t]`` has ``K_t + 1`` entries and
gives, for node ``p`` of level ``t``, its children at level ``t+1`` as the contiguous range
``ptrs[t][p] : ptrs[t][p+1]`` ("slots"). Internal node ids are those slots. At the last level slot ``s`` holds
label ``label_perm[s]``, so user label ids need not be contiguous per cluster. Every label sits at the same depth;
an indexer whose natural tree is ragged (a trie) pads short branches with single-child nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class ClusterTree:
    ptrs: list[np.ndarray]
    label_perm: np.ndarray

    def __post_init__(self):
        self.ptrs = [np.ascontiguousarray(p, dtype=np.int64) for p in self.ptrs]
        self.label_perm = np.ascontiguousarray(self.label_perm, dtype=np.int64)
        self.validate()

    @property
    def depth(self) -> int:
        return len(self.ptrs)

    def level_size(self, t: int) -> int:
        return 1 if t == 0 else int(self.ptrs[t - 1][-1])

    @property
    def n_labels(self) -> int:
        return len(self.label_perm)

    def validate(self) -> None:
        if not self.ptrs:
            raise ValueError("a tree needs at least one level")
        size = 1
        for t, p in enumerate(self.ptrs):
            if p.ndim != 1 or len(p) != size + 1 or p[0] != 0 or np.any(np.diff(p) < 1):
                raise ValueError(f"level {t}: children pointers must be increasing with every node non-empty")
            size = int(p[-1])
        if size != len(self.label_perm):
            raise ValueError(f"last level has {size} slots but {len(self.label_perm)} labels")
        if len(self.label_perm) and not np.array_equal(np.sort(self.label_perm), np.arange(size)):
            raise ValueError("label_perm must be a permutation of 0..n_labels-1")

    def reach(self, beam_size: int) -> int:
        """The most labels a beam of ``beam_size`` can return: its nodes above the labels are at most the
        ``beam_size`` parents with the most children."""
        kids = np.diff(self.ptrs[-1])
        if len(kids) <= beam_size:
            return self.n_labels
        return int(np.sort(kids)[-beam_size:].sum())

    def parents(self, t: int) -> np.ndarray:
        """Parent (at level t-1) of every node at level t >= 1."""
        p = self.ptrs[t - 1]
        return np.repeat(np.arange(len(p) - 1), np.diff(p))

    def slot_of_label(self) -> np.ndarray:
        inv = np.empty_like(self.label_perm)
        inv[self.label_perm] = np.arange(len(self.label_perm))
        return inv

    def label_to_cluster(self, t: int) -> np.ndarray:
        """For every label id, its ancestor node at level t (t = depth gives its own slot)."""
        node = self.slot_of_label()
        for level in range(self.depth, t, -1):
            node = self.parents(level)[node]
        return node

    def ancestors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(anc, offsets)``: ``anc[t - 1, l]`` = ``offsets[t - 1]`` + the node of label l at level t (t = 1..depth),
        i.e. ids in one flat numbering of every node below the root (what constrained beam search masks)."""
        sizes = [self.level_size(t) for t in range(1, self.depth + 1)]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        anc = np.empty((self.depth, self.n_labels), dtype=np.int64)
        node = self.slot_of_label()
        for t in range(self.depth, 0, -1):
            anc[t - 1] = node + offsets[t - 1]
            if t > 1:
                node = self.parents(t)[node]
        return anc, offsets

    def cluster_chain(self) -> list[sp.csr_matrix]:
        """PECOS-style chain: C_t of shape (K_t, K_{t-1}) for t = 1..depth, label rows in label-id order."""
        chain = []
        for t in range(1, self.depth + 1):
            par = self.parents(t)
            k = len(par)
            if t == self.depth:
                rows = self.label_perm
            else:
                rows = np.arange(k)
            chain.append(sp.csr_matrix((np.ones(k, np.float32), (rows, par)), shape=(k, self.level_size(t - 1))))
        return chain

    @classmethod
    def from_cluster_chain(cls, chain: list[sp.spmatrix]) -> ClusterTree:
        """Inverse of :meth:`cluster_chain` (each row of each C_t must have exactly one parent)."""
        ptrs = []
        order_prev = np.zeros(1, dtype=np.int64)  # slot -> id at previous level
        for C in chain:
            C = sp.csr_matrix(C)
            if np.any(np.diff(C.indptr) != 1):
                raise ValueError("every node needs exactly one parent")
            parent_id = C.indices.astype(np.int64)
            slot_prev = np.empty_like(order_prev)
            slot_prev[order_prev] = np.arange(len(order_prev))
            parent_slot = slot_prev[parent_id]
            order = np.argsort(parent_slot, kind="stable")
            counts = np.bincount(parent_slot, minlength=len(order_prev))
            ptrs.append(np.concatenate([[0], np.cumsum(counts)]))
            order_prev = order
        return cls(ptrs, order_prev)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"tree.ptr{t}": p for t, p in enumerate(self.ptrs)}
        out["tree.label_perm"] = self.label_perm
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ClusterTree:
        depth = sum(1 for k in arrays if k.startswith("tree.ptr"))
        return cls([arrays[f"tree.ptr{t}"] for t in range(depth)], arrays["tree.label_perm"])

    @classmethod
    def flat(cls, n_labels: int) -> ClusterTree:
        """One level: every label a child of the root (one-vs-rest over all labels)."""
        return cls([np.array([0, n_labels])], np.arange(n_labels))
