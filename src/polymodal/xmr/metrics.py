"""Ranking metrics on sparse matrices: P@k, R@k, nDCG@k, MRR.

``Y_true`` is a binary CSR (n x L). Predictions are either a CSR of scores (n x L; each row's entries ranked by
descending score, ties by label id) or an (n x k) array of label ids with -1 padding. For row i with true set T_i
and ranked list r_1, r_2, ...:

- P@k = |T_i ∩ r_1..r_k| / k
- R@k = |T_i ∩ r_1..r_k| / |T_i|  (0 for rows with no true label)
- nDCG@k = sum_{j<=k, r_j in T_i} 1/log2(j+1)  /  sum_{j<=min(k,|T_i|)} 1/log2(j+1)
- MRR = 1 / (rank of the first true label in the list), 0 if none

each averaged over all rows, reported in percent.

Propensity-scored metrics (Jain, Prabhu, Varma, KDD 2016), as the Extreme Classification Repository computes
them: label l seen in N_l of N training rows has inverse propensity ``1/p_l = 1 + C (N_l + B)^-A`` with
``C = (ln N - 1)(B + 1)^A`` (A = 0.55, B = 1.5 by default), so tail labels weigh more. With hits weighted by 1/p:

- PSP@k = mean_i sum_{j<=k, r_j in T_i} 1/p_{r_j} / k, divided by the same for the best possible list (the true
  labels in descending 1/p);
- PSnDCG@k = mean_i [sum_{j<=k, r_j in T_i} (1/p_{r_j}) / log2(j+1)] / IDCG_i@k, divided by the same for the best
  possible list, where IDCG_i@k = sum_{j<=min(k, |T_i|)} 1/log2(j+1).

Both are ratios of means over rows (not means of per-row ratios), as in the repository's reference code; rows
with no true label add 0 to both sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import InputError


def topk_with_scores(S: sp.spmatrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k column ids (-1 padded) and their scores for each row of a sparse score matrix, best first,
    ties by column id."""
    S = sp.csr_matrix(S)
    n = S.shape[0]
    ids = np.full((n, k), -1, np.int64)
    scores = np.zeros((n, k), np.float32)
    for i in range(n):
        lo, hi = S.indptr[i], S.indptr[i + 1]
        if hi == lo:
            continue
        d, c = S.data[lo:hi], S.indices[lo:hi]
        m = min(k, hi - lo)
        part = np.argpartition(-d, m - 1)[:m] if hi - lo > m else np.arange(hi - lo)
        # keep every column tied with the m-th score so the tie-break by id is exact
        if hi - lo > m:
            part = np.flatnonzero(d >= d[part].min())
        order = part[np.lexsort((c[part], -d[part]))][:m]
        ids[i, :m] = c[order]
        scores[i, :m] = d[order]
    return ids, scores


def topk_from_scores(S: sp.spmatrix, k: int) -> np.ndarray:
    return topk_with_scores(S, k)[0]


def hits_matrix(Y_true: sp.spmatrix, ids: np.ndarray) -> np.ndarray:
    """hits[i, j] = 1 if ids[i, j] is a true label of row i."""
    Y = sp.csr_matrix(Y_true)
    n, k = ids.shape
    rows = np.repeat(np.arange(n), k)
    cols = ids.ravel()
    valid = cols >= 0
    hits = np.zeros(n * k, dtype=np.float64)
    if valid.any():
        hits[valid] = np.asarray(Y[rows[valid], cols[valid]]).ravel() > 0
    return hits.reshape(n, k)


def ranking_metrics(Y_true: sp.spmatrix, pred, ks=(1, 3, 5, 10)) -> dict[str, float]:
    """P@k, R@k and nDCG@k for every k in ``ks`` plus MRR (over the whole predicted list), in percent."""
    Y = sp.csr_matrix(Y_true)
    kmax = max(ks)
    ids = topk_from_scores(pred, kmax) if sp.issparse(pred) else np.asarray(pred)
    if ids.shape[0] != Y.shape[0]:
        raise ValueError(f"{ids.shape[0]} prediction rows for {Y.shape[0]} truth rows")
    width = ids.shape[1]
    if width < kmax:
        ids = np.hstack([ids, np.full((ids.shape[0], kmax - width), -1, dtype=ids.dtype)])
    hits = hits_matrix(Y, ids)
    n_true = np.diff(Y.indptr).astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, kmax + 2))
    out: dict[str, float] = {}
    for k in ks:
        h = hits[:, :k].sum(axis=1)
        out[f"P@{k}"] = 100.0 * float(np.mean(h / k))
        out[f"R@{k}"] = 100.0 * float(np.mean(np.divide(h, n_true, out=np.zeros_like(h), where=n_true > 0)))
        dcg = hits[:, :k] @ disc[:k]
        idcg = np.cumsum(disc[:k])[np.clip(n_true.astype(int), 1, k) - 1]
        out[f"nDCG@{k}"] = 100.0 * float(np.mean(np.where(n_true > 0, dcg / idcg, 0.0)))
    first = np.argmax(hits[:, :width] > 0, axis=1)
    any_hit = hits[:, :width].any(axis=1)
    out["MRR"] = 100.0 * float(np.mean(np.where(any_hit, 1.0 / (first + 1), 0.0)))
    return out


def labels_to_csr(label_lists, n_labels: int) -> sp.csr_matrix:
    lens = [len(x) for x in label_lists]
    cols = np.fromiter((c for x in label_lists for c in x), dtype=np.int64, count=sum(lens))
    rows = np.repeat(np.arange(len(label_lists)), lens)
    return sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(label_lists), n_labels))


def paired_difference_ci(a: np.ndarray, b: np.ndarray, groups: Sequence, n_boot: int = 2000,
                         seed: int = 0) -> dict[str, float]:
    """Mean of a - b in percent and its 95 % bootstrap interval, resampling whole groups (e.g. every test row of
    one query string together, since rows of one query are not independent)."""
    if not len(a) == len(b) == len(groups) or not len(a):
        raise InputError(f"paired values need equal, non-zero lengths, got {len(a)}, {len(b)}, {len(groups)}")
    diff = np.asarray(a, float) - np.asarray(b, float)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    sums, counts = np.bincount(g, weights=diff), np.bincount(g)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), (n_boot, len(sums)))
    boots = sums[picks].sum(1) / counts[picks].sum(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": round(100 * diff.mean(), 4), "ci95": [round(100 * lo, 4), round(100 * hi, 4)],
            "groups": int(len(sums)), "n_boot": n_boot}


def inverse_propensity(train_counts, n_train: int, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """``1/p_l = 1 + C (N_l + B)^-A``, ``C = (ln N - 1)(B + 1)^A`` for every label (Jain et al. 2016)."""
    if n_train < 1:
        raise InputError(f"inverse propensities need at least one training row, got {n_train}")
    counts = np.asarray(train_counts, dtype=np.float64)
    C = (np.log(n_train) - 1.0) * (B + 1.0) ** A
    return 1.0 + C * (counts + B) ** -A


def propensity_metrics(Y_true: sp.spmatrix, ids: np.ndarray, inv_p: np.ndarray, ks=(1, 3, 5)) -> dict[str, float]:
    """PSP@k and PSnDCG@k (percent) of ranked label ids (n x >=k, -1 padded) against binary ``Y_true``."""
    Y = sp.csr_matrix(Y_true)
    kmax = max(ks)
    ids = np.asarray(ids)
    if ids.shape[0] != Y.shape[0]:
        raise ValueError(f"{ids.shape[0]} prediction rows for {Y.shape[0]} truth rows")
    if ids.shape[1] < kmax:
        ids = np.hstack([ids, np.full((ids.shape[0], kmax - ids.shape[1]), -1, dtype=ids.dtype)])
    ids = ids[:, :kmax]
    inv_p = np.asarray(inv_p, dtype=np.float64)
    gain = hits_matrix(Y, ids) * np.where(ids >= 0, inv_p[np.maximum(ids, 0)], 0.0)
    # the best list: each row's true labels by descending 1/p
    n = Y.shape[0]
    best = np.zeros((n, kmax))
    w = inv_p[Y.indices]
    row = np.repeat(np.arange(n), np.diff(Y.indptr))
    order = np.lexsort((-w, row))
    rank = np.arange(len(order)) - Y.indptr[row[order]]
    keep = rank < kmax
    best[row[order][keep], rank[keep]] = w[order][keep]
    n_true = np.diff(Y.indptr)
    disc = 1.0 / np.log2(np.arange(2, kmax + 2))
    out: dict[str, float] = {}
    for k in ks:
        den = best[:, :k].sum()
        out[f"PSP@{k}"] = 100.0 * float(gain[:, :k].sum() / den) if den > 0 else 0.0
        idcg = np.cumsum(disc[:k])[np.clip(n_true, 1, k) - 1]
        num = np.where(n_true > 0, (gain[:, :k] @ disc[:k]) / idcg, 0.0).sum()
        den = np.where(n_true > 0, (best[:, :k] @ disc[:k]) / idcg, 0.0).sum()
        out[f"PSnDCG@{k}"] = 100.0 * float(num / den) if den > 0 else 0.0
    return out

