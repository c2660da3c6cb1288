"""XRLinear: beam search vs exhaustive scoring, pruning, persistence, negatives, input conversion."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from polymodal.errors import InputError, ModelError
from polymodal.xmr.metrics import ranking_metrics
from polymodal.xmr.model import XRLinear


@pytest.fixture(scope="module")
def fitted(small_xmc):
    return XRLinear(max_leaf_size=20, nr_splits=4, threads=2).fit(small_xmc["X"], small_xmc["Y"])


@pytest.mark.parametrize(("post", "k"), [("l3-hinge", 10), ("sigmoid", 10), ("l3-hinge", 60)])
def test_full_beam_equals_exhaustive(fitted, small_xmc, post, k):
    X = small_xmc["Xte"][:150]
    full_beam = max(fitted.tree_.level_size(t) for t in range(fitted.tree_.depth + 1))
    ids, scores = fitted.predict(X, k=k, beam_size=full_beam, post_processor=post)
    S = fitted.decision_function_exhaustive(X, post_processor=post)
    for i in range(X.shape[0]):
        ref_scores = np.sort(S[i])[::-1][:k]
        assert np.allclose(scores[i], ref_scores, rtol=1e-4, atol=1e-6)
        assert np.allclose(S[i, ids[i]], scores[i], rtol=1e-4, atol=1e-6)


def test_narrow_beam_scores_are_true_path_scores(fitted, small_xmc):
    X = small_xmc["Xte"][:100]
    ids, scores = fitted.predict(X, k=5, beam_size=2)
    S = fitted.decision_function_exhaustive(X)
    assert np.allclose(np.take_along_axis(S, ids, axis=1), scores, rtol=1e-4, atol=1e-6)
    assert np.all(np.diff(scores, axis=1) <= 1e-7)


def test_beats_popularity_baseline(fitted, small_xmc):
    ids, _ = fitted.predict(small_xmc["Xte"], k=5)
    ours = ranking_metrics(small_xmc["Yte"], ids, ks=(1, 5))
    popular = np.argsort(-np.asarray(small_xmc["Y"].sum(axis=0)).ravel())[:5]
    base = ranking_metrics(small_xmc["Yte"], np.tile(popular, (ids.shape[0], 1)), ks=(1, 5))
    assert ours["P@1"] > base["P@1"] + 10
    assert ours["P@5"] > base["P@5"]


def test_pruning_drops_exactly_small_weights(small_xmc):
    X, Y = small_xmc["X"][:1500], small_xmc["Y"][:1500]
    keep = np.asarray(Y.sum(axis=0)).ravel() > 0
    Y = Y[:, keep]
    dense = XRLinear(threshold=0.0, max_leaf_size=30, threads=1).fit(X, Y)
    pruned = XRLinear(threshold=0.1, max_leaf_size=30, threads=1).fit(X, Y, tree=dense.tree_)
    d = X.shape[1]
    for t in range(dense.tree_.depth):
        A = dense.weights_.level_matrix(t, d).toarray()
        B = pruned.weights_.level_matrix(t, d).toarray()
        assert np.array_equal(B, np.where(np.abs(A) >= 0.1, A, 0.0).astype(np.float32))
        assert (np.abs(A) < 0.1).sum() > 0  # something was pruned


def test_save_load_identical(fitted, small_xmc, tmp_path):
    fitted.save(tmp_path / "m")
    back = XRLinear.load(tmp_path / "m")
    a = fitted.predict(small_xmc["Xte"], k=10)
    b = back.predict(small_xmc["Xte"], k=10)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp folders left


def test_predict_one_equals_batch(fitted, small_xmc):
    X = small_xmc["Xte"][:50]
    ids, scores = fitted.predict(X, k=7)
    for i in range(X.shape[0]):
        row = X[i]
        oi, os_ = fitted.predict_one(row.indices, row.data, k=7)
        valid = ids[i] >= 0
        assert np.array_equal(oi, ids[i][valid])
        assert np.allclose(os_, scores[i][valid])


def test_dense_and_float64_inputs_are_converted(fitted, small_xmc):
    X = small_xmc["Xte"][:20]
    a = fitted.predict(X, k=5)
    b = fitted.predict(X.toarray().astype(np.float64), k=5)
    c = fitted.predict(sp.csc_matrix(X, dtype=np.float64), k=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[0], c[0])


@pytest.mark.parametrize("negatives", ["man", "tfn+man"])
def test_matcher_aware_negatives(small_xmc, negatives):
    X, Y = small_xmc["X"], small_xmc["Y"]
    base = XRLinear(max_leaf_size=20, nr_splits=4).fit(X, Y)
    m = XRLinear(max_leaf_size=20, nr_splits=4, negatives=negatives).fit(X, Y, tree=base.tree_)
    p_base = ranking_metrics(small_xmc["Yte"], base.predict(small_xmc["Xte"], k=5)[0], ks=(1, 5))
    p_man = ranking_metrics(small_xmc["Yte"], m.predict(small_xmc["Xte"], k=5)[0], ks=(1, 5))
    assert p_man["P@1"] > p_base["P@1"] - 3.0  # a different, still sound model
    assert m.weights_.nnz != base.weights_.nnz


def test_bad_arguments(fitted, small_xmc):
    with pytest.raises(InputError):
        fitted.predict(small_xmc["Xte"], k=0)
    with pytest.raises(InputError):
        fitted.predict(small_xmc["Xte"][:, :10], k=3)
    with pytest.raises(InputError):
        XRLinear(negatives="bogus")
    with pytest.raises(ModelError):
        XRLinear().predict(small_xmc["Xte"])


def test_corrupt_model_folder(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    f = tmp_path / "m" / "xr_linear.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(ModelError):
        XRLinear.load(tmp_path / "m")
    with pytest.raises(ModelError):
        XRLinear.load(tmp_path / "missing")


def test_constrained_beam_equals_exhaustive_over_allowed(fitted, small_xmc):
    """With a beam covering every node, constrained search = the top-k of the exhaustive scores of the allowed
    labels; with any beam, every result is allowed and its score is its true path score."""
    X = small_xmc["Xte"][:60]
    S = fitted.decision_function_exhaustive(X)
    L = fitted.n_labels_
    rng = np.random.default_rng(0)
    full_beam = max(fitted.tree_.level_size(t) for t in range(fitted.tree_.depth + 1))
    for i in range(X.shape[0]):
        allowed = rng.choice(L, size=int(rng.integers(1, 40)), replace=False)
        row = X[i]
        ids, sc = fitted.predict_one(row.indices, row.data, k=10, beam_size=full_beam, allowed=allowed)
        ref = allowed[np.argsort(-S[i, allowed], kind="stable")][:10]
        assert np.allclose(sc, S[i, ref], rtol=1e-4, atol=1e-6)
        assert set(ids) <= set(allowed.tolist())
        ids2, sc2 = fitted.predict_one(row.indices, row.data, k=10, beam_size=2, allowed=allowed)
        assert set(ids2) <= set(allowed.tolist()) and len(ids2) >= 1
        assert np.allclose(S[i, ids2], sc2, rtol=1e-4, atol=1e-6)
    # the reused mask is left clean: an unconstrained call afterwards is unchanged
    row = X[0]
    a = fitted.predict_one(row.indices, row.data, k=10)
    b = fitted.predict(X[:1], k=10)
    assert np.array_equal(a[0], b[0][0])
    assert len(fitted.predict_one(row.indices, row.data, k=5, allowed=np.array([], np.int64))[0]) == 0
    with pytest.raises(InputError, match="allowed label ids"):
        fitted.predict_one(row.indices, row.data, allowed=np.array([L]))


def test_trained_parents_packed_as_the_level_matrices_are(small_xmc):
    """Training packs each parent as soon as it is trained (slices of a split parent merged): the result equals
    packing the finished level matrices, array for array, hash tables included."""
    from polymodal.xmr.chunked import pack

    m = XRLinear(threads=2, nr_splits=16, max_leaf_size=20).fit(small_xmc["X"], small_xmc["Y"])
    assert np.diff(m.tree_.ptrs[0])[0] > 8  # the root's children are trained as two jobs, merged when packed
    d = m.n_features_in_
    levels = [m.weights_.level_matrix(t, d) for t in range(m.tree_.depth)]
    ref = pack(levels, m.tree_)
    got = m.weights_.to_arrays("mmap")
    for key, a in ref.to_arrays("mmap").items():
        assert got[key].dtype == a.dtype, key
        assert np.array_equal(got[key], a), key
