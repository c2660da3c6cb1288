"""PIFA against its formula; the k-means tree is a valid, balanced B-ary tree; cluster chains round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.xmr.indexer import IndexerConfig, binary_depth, hierarchical_kmeans, pifa
from polymodal.xmr.tree import ClusterTree


def test_pifa_formula(small_xmc):
    X, Y = small_xmc["X"][:500], small_xmc["Y"][:500]
    Z = pifa(X, Y).toarray()
    Xd, Yd = X.toarray().astype(np.float64), Y.toarray()
    for lab in range(0, Y.shape[1], 37):
        v = Xd[Yd[:, lab] > 0].sum(axis=0)
        expect = v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else v
        assert np.allclose(Z[lab], expect, atol=1e-5)


@pytest.mark.parametrize("nr_splits,max_leaf", [(16, 100), (4, 20), (2, 7), (32, 5)])
def test_tree_balanced_and_complete(small_xmc, nr_splits, max_leaf):
    Z = pifa(small_xmc["X"], small_xmc["Y"])
    L = Z.shape[0]
    tree = hierarchical_kmeans(Z, IndexerConfig(nr_splits=nr_splits, max_leaf_size=max_leaf))
    assert sorted(tree.label_perm.tolist()) == list(range(L))
    leaf_sizes = np.diff(tree.ptrs[-1])
    assert leaf_sizes.max() <= max_leaf and leaf_sizes.min() >= 1
    assert len(leaf_sizes) == 2 ** binary_depth(L, max_leaf)
    # every split is balanced: the label counts under sibling nodes differ by at most one
    assert leaf_sizes.max() - leaf_sizes.min() <= 1
    counts = leaf_sizes.astype(np.int64)  # labels under each node of level depth-1
    for t in range(tree.depth - 2, -1, -1):
        ptr = tree.ptrs[t]
        for p in range(len(ptr) - 1):
            kids = counts[ptr[p] : ptr[p + 1]]
            assert kids.max() - kids.min() <= 1
            if t > 0:  # below the top level every internal node has exactly nr_splits children
                assert len(kids) == nr_splits
        counts = np.add.reduceat(counts, ptr[:-1])
    assert counts.tolist() == [L]


def test_clusters_group_similar_labels(small_xmc):
    """Labels in one leaf are closer (cosine of PIFA) to each other than to random labels."""
    Z = pifa(small_xmc["X"], small_xmc["Y"])
    tree = hierarchical_kmeans(Z, IndexerConfig(max_leaf_size=20))
    Zd = Z.toarray()
    within, across = [], []
    rng = np.random.default_rng(0)
    ptr = tree.ptrs[-1]
    for c in range(len(ptr) - 1):
        members = tree.label_perm[ptr[c] : ptr[c + 1]]
        S = Zd[members] @ Zd[members].T
        within.append(S[np.triu_indices(len(members), 1)].mean())
        other = rng.choice(Zd.shape[0], len(members), replace=False)
        across.append((Zd[members] @ Zd[other].T).mean())
    assert np.mean(within) > 2 * np.mean(across)


def test_deterministic_under_seed(small_xmc):
    Z = pifa(small_xmc["X"], small_xmc["Y"])
    a = hierarchical_kmeans(Z, IndexerConfig(max_leaf_size=30, seed=5), threads=2)
    b = hierarchical_kmeans(Z, IndexerConfig(max_leaf_size=30, seed=5), threads=1)
    assert np.array_equal(a.label_perm, b.label_perm)


def test_cluster_chain_round_trip(small_xmc):
    Z = pifa(small_xmc["X"], small_xmc["Y"])
    tree = hierarchical_kmeans(Z, IndexerConfig(nr_splits=4, max_leaf_size=25))
    chain = tree.cluster_chain()
    assert chain[0].shape[1] == 1 and chain[-1].shape[0] == Z.shape[0]
    back = ClusterTree.from_cluster_chain(chain)
    for t in range(1, tree.depth + 1):
        assert np.array_equal(back.label_to_cluster(t - 1), tree.label_to_cluster(t - 1))


def test_invalid_trees_rejected():
    with pytest.raises(ValueError):
        ClusterTree([np.array([0, 2]), np.array([0, 1, 1])], np.arange(1))  # empty node
    with pytest.raises(ValueError):
        ClusterTree([np.array([0, 3])], np.array([0, 0, 1]))  # not a permutation
    with pytest.raises(ValueError):
        IndexerConfig(nr_splits=6)


def test_ancestors_match_label_to_cluster(small_xmc):
    tree = hierarchical_kmeans(pifa(small_xmc["X"], small_xmc["Y"]), IndexerConfig(nr_splits=4, max_leaf_size=20))
    anc, off = tree.ancestors()
    assert off[-1] == sum(tree.level_size(t) for t in range(1, tree.depth + 1))
    for t in range(1, tree.depth + 1):
        assert np.array_equal(anc[t - 1] - off[t - 1], tree.label_to_cluster(t))
