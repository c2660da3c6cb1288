"""Label trees for autocompletion: a character trie, and the trie/k-means hybrid (Yadav et al., KDD 2021).

Both return the engine's :class:`~polymodal.xmr.tree.ClusterTree`, so training and beam search are unchanged.

- ``trie_tree(labels, depth)``: level t (1..depth) has one node per distinct key ``label[:t]``; a node's labels are
  exactly those sharing its key. A label shorter than t keeps its whole string as key, so it continues as a
  single-child chain (every label sits at the same depth). Labels are the children of their depth-``depth`` node.
- ``hybrid_tree(labels, Z, depth, ...)``: the trie's top ``depth`` levels, and under each trie node a balanced
  hierarchical k-means tree of its labels' embeddings ``Z`` (rows aligned with ``labels``); subtrees shallower than
  the deepest are padded at their top with single-child levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..xmr.indexer import IndexerConfig, hierarchical_kmeans
from ..xmr.tree import ClusterTree


def _trie_levels(labels: Sequence[str], depth: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Sorted label order, and per level 1..depth the node id of every label (in sorted order) and node keys."""
    if depth < 1:
        raise ValueError("trie depth must be >= 1")
    order = np.array(sorted(range(len(labels)), key=lambda i: labels[i]), dtype=np.int64)
    node_of, keys = [], []
    for t in range(1, depth + 1):
        k = [labels[i][:t] for i in order]
        new = np.ones(len(k), dtype=bool)
        new[1:] = [a != b for a, b in zip(k[1:], k[:-1])]
        node_of.append(np.cumsum(new) - 1)
        keys.append(np.array([s for s, n in zip(k, new) if n], dtype=object))
    return order, node_of, keys


def _ptrs_from_assignment(parent_of_child: np.ndarray, n_parents: int) -> np.ndarray:
    counts = np.bincount(parent_of_child, minlength=n_parents)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def trie_tree(labels: Sequence[str], depth: int) -> ClusterTree:
    order, node_of, _ = _trie_levels(labels, depth)
    ptrs = [np.array([0, int(node_of[0].max()) + 1], dtype=np.int64)]
    for t in range(1, depth):
        n_child = int(node_of[t].max()) + 1
        parent = np.zeros(n_child, dtype=np.int64)
        parent[node_of[t]] = node_of[t - 1]
        ptrs.append(_ptrs_from_assignment(parent, int(node_of[t - 1].max()) + 1))
    ptrs.append(_ptrs_from_assignment(node_of[-1], int(node_of[-1].max()) + 1))
    return ClusterTree(ptrs, order)


def trie_keys(labels: Sequence[str], depth: int) -> list[np.ndarray]:
    """The string key of every node at levels 1..depth of :func:`trie_tree` (for inspection and tests)."""
    return _trie_levels(labels, depth)[2]


def _pad(tree: ClusterTree, depth: int) -> list[np.ndarray]:
    return [np.array([0, 1], dtype=np.int64)] * (depth - tree.depth) + list(tree.ptrs)


def graft(top: list[np.ndarray], subtrees: list[ClusterTree], label_ids: list[np.ndarray]) -> ClusterTree:
    """Hang ``subtrees[i]`` (over the global labels ``label_ids[i]``) under node i of the last level of ``top``
    (``top`` = children pointers of levels 0..d-1). Subtrees are padded to a common depth."""
    D = max(s.depth for s in subtrees)
    padded = [_pad(s, D) for s in subtrees]
    ptrs = list(top)
    # level d (the trie nodes) -> their subtree roots' children; subtree level j -> combined level d + j
    for j in range(D):
        parts, offset = [], 0
        for p in padded:
            parts.append(p[j][:-1] + offset)
            offset += int(p[j][-1])
        ptrs.append(np.concatenate(parts + [np.array([offset])]).astype(np.int64))
    perm = np.concatenate([ids[s.label_perm] for s, ids in zip(subtrees, label_ids)])
    return ClusterTree(ptrs, perm)


def hybrid_tree(labels: Sequence[str], Z: sp.csr_matrix, depth: int, config: IndexerConfig | None = None,
                threads: int | None = None) -> ClusterTree:
    """Trie for the top ``depth`` levels, balanced k-means (on rows of ``Z``) below each trie node."""
    if Z.shape[0] != len(labels):
        raise ValueError(f"{Z.shape[0]} embeddings for {len(labels)} labels")
    trie = trie_tree(labels, depth)
    Z = sp.csr_matrix(Z)
    last = trie.ptrs[-1]
    subtrees, ids = [], []
    for p in range(len(last) - 1):
        members = trie.label_perm[last[p] : last[p + 1]]
        sub = hierarchical_kmeans(Z[members], config, threads)
        subtrees.append(sub)
        ids.append(members)
    return graft(trie.ptrs[:-1], subtrees, ids)
