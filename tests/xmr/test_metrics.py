"""Sparse ranking metrics against a brute-force per-row loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from polymodal.errors import InputError
from polymodal.xmr.metrics import (
    inverse_propensity,
    paired_difference_ci,
    propensity_metrics,
    ranking_metrics,
    topk_from_scores,
)


def _brute(truth: list[set], ranked: list[list[int]], k: int):
    p = r = nd = mrr = 0.0
    for t, lst in zip(truth, ranked):
        top = [x for x in lst[:k] if x >= 0]
        h = [1 if x in t else 0 for x in top]
        p += sum(h) / k
        r += sum(h) / len(t) if t else 0
        idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(t))))
        nd += (sum(hj / math.log2(j + 2) for j, hj in enumerate(h)) / idcg) if t else 0
        ranks = [j for j, x in enumerate(lst) if x in t]
        mrr += 1 / (ranks[0] + 1) if ranks else 0
    n = len(truth)
    return 100 * p / n, 100 * r / n, 100 * nd / n, 100 * mrr / n


def test_against_brute_force():
    rng = np.random.default_rng(3)
    n, L, k = 300, 50, 10
    truth = [set(rng.choice(L, size=rng.integers(0, 6), replace=False).tolist()) for _ in range(n)]
    Y = sp.lil_matrix((n, L))
    for i, t in enumerate(truth):
        for j in t:
            Y[i, j] = 1
    ranked = [rng.permutation(L)[: rng.integers(1, k + 1)].tolist() for _ in range(n)]
    ids = np.full((n, k), -1)
    for i, lst in enumerate(ranked):
        ids[i, : len(lst)] = lst
    res = ranking_metrics(Y.tocsr(), ids, ks=(1, 3, 5, 10))
    for kk in (1, 3, 5, 10):
        p, r, nd, mrr = _brute(truth, ranked, kk)
        assert res[f"P@{kk}"] == pytest.approx(p)
        assert res[f"R@{kk}"] == pytest.approx(r)
        assert res[f"nDCG@{kk}"] == pytest.approx(nd)
    assert res["MRR"] == pytest.approx(_brute(truth, ranked, k)[3])


def test_score_matrix_input_ranks_by_score():
    S = sp.csr_matrix(np.array([[0.1, 0.9, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.2, 0.0]]))
    ids = topk_from_scores(S, 3)
    assert ids[0].tolist() == [1, 3, 0]
    assert ids[1].tolist() == [-1, -1, -1]
    assert ids[2].tolist() == [0, 1, 2]  # ties broken by label id
    Y = sp.csr_matrix(np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]]))
    res = ranking_metrics(Y, S, ks=(1, 3))
    assert res["P@1"] == pytest.approx(0.0)
    assert res["R@3"] == pytest.approx(100 * 2 / 3)


def test_paired_difference_ci_resamples_whole_groups():
    rng = np.random.default_rng(0)
    a, b = rng.random(400), rng.random(400)
    r = paired_difference_ci(a, a, rng.integers(0, 50, 400))
    assert r["diff"] == 0 and r["ci95"] == [0, 0]
    groups = np.repeat(np.arange(40), 10)
    r = paired_difference_ci(a, b, groups, n_boot=4000)
    assert r["groups"] == 40 and r["ci95"][0] < r["diff"] < r["ci95"][1]
    # the group bootstrap's spread matches the closed-form standard error of a mean of group means
    d = (a - b).reshape(40, 10).mean(1)
    se = 100 * d.std(ddof=1) / np.sqrt(40)
    assert (r["ci95"][1] - r["ci95"][0]) / (2 * 1.96) == pytest.approx(se, rel=0.15)
    with pytest.raises(InputError, match="equal, non-zero lengths"):
        paired_difference_ci(a, b[:-1], groups)


# ---------------------------------------------------------------------------------------------- propensity-scored
def _brute_psp(Y, ids, inv_p, k):
    """Literal loops over rows: numerators and ideal denominators summed over rows, then divided."""
    num_p = den_p = num_n = den_n = 0.0
    for i in range(Y.shape[0]):
        true = set(Y.indices[Y.indptr[i]:Y.indptr[i + 1]].tolist())
        if not true:
            continue
        ranked = [c for c in ids[i][:k]]
        gains = [inv_p[c] if c >= 0 and c in true else 0.0 for c in ranked]
        ideal = sorted((inv_p[c] for c in true), reverse=True)[:k]
        num_p += sum(gains) / k
        den_p += sum(ideal) / k
        idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(true))))
        num_n += sum(g / math.log2(j + 2) for j, g in enumerate(gains)) / idcg
        den_n += sum(g / math.log2(j + 2) for j, g in enumerate(ideal)) / idcg
    return 100 * num_p / den_p, 100 * num_n / den_n


def test_inverse_propensity_closed_form():
    inv = inverse_propensity([0, 9, 1000], n_train=10_000, A=0.55, B=1.5)
    C = (math.log(10_000) - 1) * 2.5 ** 0.55
    assert inv == pytest.approx([1 + C * 1.5 ** -0.55, 1 + C * 10.5 ** -0.55, 1 + C * 1001.5 ** -0.55])
    assert inv[0] > inv[1] > inv[2] > 1  # rarer labels weigh more
    other = inverse_propensity([9], n_train=10_000, A=0.6, B=2.6)
    assert other[0] == pytest.approx(1 + (math.log(10_000) - 1) * 3.6 ** 0.6 * 11.6 ** -0.6)


def test_propensity_metrics_against_brute_force():
    rng = np.random.default_rng(3)
    n, L = 300, 40
    Y = sp.random(n, L, density=0.08, random_state=4, format="csr")
    Y.data[:] = 1
    ids = np.array([rng.permutation(L)[:7] for _ in range(n)])
    ids[rng.random(ids.shape) < 0.1] = -1  # padding
    inv_p = inverse_propensity(rng.integers(0, 50, L), n_train=5000)
    got = propensity_metrics(Y, ids, inv_p, ks=(1, 3, 5))
    for k in (1, 3, 5):
        psp, psndcg = _brute_psp(Y, ids, inv_p, k)
        assert got[f"PSP@{k}"] == pytest.approx(psp, rel=1e-9)
        assert got[f"PSnDCG@{k}"] == pytest.approx(psndcg, rel=1e-9)


def test_propensity_metrics_perfect_list_is_100_and_uniform_weights_give_precision():
    Y = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    inv_p = np.array([3.0, 1.5, 7.0, 2.0])
    best = np.array([[2, 0, -1], [1, -1, -1], [-1, -1, -1]])
    got = propensity_metrics(Y, best, inv_p, ks=(1, 3))
    assert got["PSP@1"] == pytest.approx(100) and got["PSnDCG@3"] == pytest.approx(100)
    # with all weights equal, PSP@k is P@k over the best achievable P@k
    ids = np.array([[0, 3, 2], [3, 1, 0], [0, 1, 2]])
    ones = np.ones(4)
    p = ranking_metrics(Y, ids, ks=(1, 3))
    got = propensity_metrics(Y, ids, ones, ks=(1, 3))
    best_p1 = ranking_metrics(Y, best, ks=(1,))["P@1"]
    assert got["PSP@1"] == pytest.approx(100 * p["P@1"] / best_p1)
