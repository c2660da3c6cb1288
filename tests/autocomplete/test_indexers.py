"""Trie and hybrid label trees on real AOL queries."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.autocomplete.features import PositionWeightedCharTfidf
from polymodal.autocomplete.indexers import hybrid_tree, trie_keys, trie_tree
from polymodal.datasets.aol import load_rows
from polymodal.datasets.aol_sessions import normalize_query
from polymodal.xmr.indexer import IndexerConfig


@pytest.fixture(scope="module")
def labels():
    qs = sorted({q for q in (normalize_query(r[1]) for r in load_rows()[:15000]) if q})
    rng = np.random.default_rng(0)
    return [qs[i] for i in rng.permutation(len(qs))]  # not sorted: the tree must not rely on input order


def _groups(tree, t):
    node = tree.label_to_cluster(t)
    out = {}
    for lab, n in enumerate(node):
        out.setdefault(int(n), set()).add(lab)
    return out


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_trie_groups_exactly_the_labels_sharing_a_prefix(labels, depth):
    tree = trie_tree(labels, depth)
    assert sorted(tree.label_perm.tolist()) == list(range(len(labels)))
    keys = trie_keys(labels, depth)
    for t in range(1, depth + 1):
        groups = _groups(tree, t)
        assert len(groups) == len(keys[t - 1]) == len({s[:t] for s in labels})
        for node, members in groups.items():
            key = keys[t - 1][node]
            assert members == {i for i, s in enumerate(labels) if s[:t] == key}


def test_hybrid_top_levels_equal_the_trie(labels):
    d = 2
    Z = PositionWeightedCharTfidf((1, 3)).fit(labels).transform(labels)
    hyb = hybrid_tree(labels, Z, d, IndexerConfig(nr_splits=4, max_leaf_size=30))
    trie = trie_tree(labels, d)
    for t in range(1, d + 1):
        assert np.array_equal(hyb.label_to_cluster(t), trie.label_to_cluster(t))
    leaf = np.diff(hyb.ptrs[-1])
    assert leaf.max() <= 30 and sorted(hyb.label_perm.tolist()) == list(range(len(labels)))
    assert hyb.depth > trie.depth  # k-means levels were added below the trie
