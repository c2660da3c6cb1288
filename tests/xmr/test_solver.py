"""The dual CD solvers reach the same optimum as scikit-learn's liblinear on the same problem."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from polymodal.xmr.solver import LOSSES, solve_binary


def _problem(small_xmc, label: int, n: int = 1500):
    X = small_xmc["X"][:n]
    y = np.where(np.asarray(small_xmc["Y"][:n, label].todense()).ravel() > 0, 1.0, -1.0)
    assert 5 < (y > 0).sum() < n - 5
    return sp.csr_matrix(X), y


def _objective(w, b, X, y, C, loss):
    m = y * (X @ w + b)
    reg = 0.5 * (w @ w + b * b)  # liblinear regularises the bias feature too
    if loss == "squared-hinge":
        return reg + C * np.sum(np.maximum(0, 1 - m) ** 2)
    if loss == "hinge":
        return reg + C * np.sum(np.maximum(0, 1 - m))
    return reg + C * np.sum(np.logaddexp(0, -m))


def _ours(X, y, C, loss):
    d = X.shape[1]
    xsq = np.asarray(X.multiply(X).sum(axis=1)).ravel() + 1.0
    w = np.empty(d + 1)
    solve_binary(X.indptr.astype(np.int64), X.indices, X.data, xsq, y, d, 1.0, C, C, LOSSES[loss],
                 1e-5, 5000, 0, w)
    return w[:d], w[d]


@pytest.mark.parametrize("loss", ["squared-hinge", "hinge", "logistic"])
@pytest.mark.parametrize("C", [0.5, 4.0])
def test_same_objective_as_liblinear(small_xmc, loss, C):
    X, y = _problem(small_xmc, label=0)
    w, b = _ours(X, y, C, loss)
    if loss == "logistic":
        ref = LogisticRegression(C=C, solver="liblinear", tol=1e-8, max_iter=10000, intercept_scaling=1.0)
    else:
        ref = LinearSVC(C=C, loss=loss.replace("-", "_"), dual=True, tol=1e-8, max_iter=200000, intercept_scaling=1.0)
    ref.fit(X.astype(np.float64), y)
    f_ours = _objective(w, b, X, y, C, loss)
    f_ref = _objective(ref.coef_.ravel(), ref.intercept_[0], X, y, C, loss)
    assert f_ours == pytest.approx(f_ref, rel=1e-3)
    agree = np.mean(np.sign(X @ w + b) == np.sign(X @ ref.coef_.ravel() + ref.intercept_[0]))
    assert agree > 0.995


def test_class_weights_shift_the_solution(small_xmc):
    """Cp > Cn must push the decision boundary towards recalling more positives."""
    X, y = _problem(small_xmc, label=1)
    d = X.shape[1]
    xsq = np.asarray(X.multiply(X).sum(axis=1)).ravel() + 1.0
    w1, w2 = np.empty(d + 1), np.empty(d + 1)
    args = (X.indptr.astype(np.int64), X.indices, X.data, xsq, y, d, 1.0)
    solve_binary(*args, 1.0, 1.0, 0, 0.01, 1000, 0, w1)
    solve_binary(*args, 8.0, 1.0, 0, 0.01, 1000, 0, w2)
    pos = y > 0
    s1 = X @ w1[:d] + w1[d]
    s2 = X @ w2[:d] + w2[d]
    assert (s2[pos] > 0).sum() > (s1[pos] > 0).sum()


@pytest.mark.parametrize("loss", ["squared-hinge", "hinge"])
def test_multi_solver_matches_liblinear_per_child(small_xmc, loss):
    """The interleaved solver (up to MULTI children over the same rows) reaches each child's liblinear optimum;
    padding columns are left at zero."""
    from polymodal.xmr.solver import MULTI, solve_svm_dual_multi

    n, C, nb_child = 1500, 2.0, 5
    X = sp.csr_matrix(small_xmc["X"][:n])
    Ysub = np.asarray(small_xmc["Y"][:n].todense()) > 0
    labels = [j for j in np.argsort(-Ysub.sum(0)) if 5 < Ysub[:, j].sum() < n - 5][:nb_child]
    d = X.shape[1]
    xsq = np.asarray(X.multiply(X).sum(axis=1)).ravel() + 1.0
    Y = -np.ones((n, MULTI), dtype=np.int8)
    for b, j in enumerate(labels):
        Y[Ysub[:, j], b] = 1
    W = np.full((d + 1) * MULTI, 7.0, dtype=np.float32)
    solve_svm_dual_multi(X.indptr.astype(np.int64), X.indices.astype(np.uint32), X.data.astype(np.float32), xsq,
                         Y.ravel(), nb_child, d, 1.0, C, C, loss == "hinge", 1e-5, 5000, 3, W, np.empty(n * MULTI),
                         np.empty(n * MULTI, np.int8), np.empty(n, np.int64))
    W = W.reshape(d + 1, MULTI)
    assert np.all(W[:, nb_child:] == 0)
    for b in range(nb_child):
        y = Y[:, b].astype(np.float64)
        ref = LinearSVC(C=C, loss=loss.replace("-", "_"), dual=True, tol=1e-8, max_iter=200000,
                        intercept_scaling=1.0).fit(X.astype(np.float64), y)
        w = W[:d, b].astype(np.float64)
        f_ours = _objective(w, float(W[d, b]), X, y, C, loss)
        f_ref = _objective(ref.coef_.ravel(), ref.intercept_[0], X, y, C, loss)
        assert f_ours == pytest.approx(f_ref, rel=1e-3)
