"""Dual coordinate descent for L2-regularised linear classifiers (liblinear's algorithms), in numba.

Problem (one binary classifier, labels y_i in {-1, +1}, per-example cost C_i = Cp or Cn):

    min_w  1/2 ||w||^2 + sum_i C_i * loss(y_i w.x_i)

- ``squared-hinge`` (L2-loss SVM): dual  min_a 1/2 a'(Q + D)a - e'a,  a >= 0,  D_ii = 1/(2 C_i)
- ``hinge`` (L1-loss SVM): dual  min_a 1/2 a'Qa - e'a,  0 <= a_i <= C_i
- ``logistic``: the dual of Yu, Huang & Lin (2011), solved coordinate-wise with a Newton inner loop

with Q_ij = y_i y_j x_i.x_j and w = sum_i a_i y_i x_i. The bias is an extra feature of constant value ``bias``.
Coordinate order is a seeded random permutation each pass; shrinking and the stopping rule
(projected-gradient spread <= eps) follow liblinear (Hsieh et al., ICML 2008).

We write this ourselves because the per-node subproblems are tiny and numerous: calling scikit-learn's
liblinear wrapper costs ~100 us of Python/copy overhead per call, more than the solve itself.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LOSSES = {"squared-hinge": 0, "hinge": 1, "logistic": 2}


@njit(nogil=True, cache=True, inline="always")
def _next_rand(state):
    # xorshift64*
    state ^= state >> np.uint64(12)
    state ^= (state << np.uint64(25)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    state ^= state >> np.uint64(27)
    return state


@njit(nogil=True, cache=True)
def _shuffle(index, m, state):
    for j in range(m - 1, 0, -1):
        state = _next_rand(state)
        # multiply-shift instead of a 64-bit modulo (Lemire): unbiased enough for coordinate order
        k = np.int64(((state >> np.uint64(32)) * np.uint64(j + 1)) >> np.uint64(32))
        t = index[j]
        index[j] = index[k]
        index[k] = t
    return state


@njit(nogil=True, cache=True)
def _dot(w, indptr, indices, data, i, bias, nb):
    s = 0.0
    for k in range(indptr[i], indptr[i + 1]):
        s += w[indices[k]] * data[k]
    if bias > 0:
        s += w[nb] * bias
    return s


@njit(nogil=True, cache=True)
def _axpy(w, a, indptr, indices, data, i, bias, nb):
    for k in range(indptr[i], indptr[i + 1]):
        w[indices[k]] += a * data[k]
    if bias > 0:
        w[nb] += a * bias


@njit(nogil=True, cache=True)
def solve_svm_dual(indptr, indices, data, xsq, y, n_feat, bias, Cp, Cn, l1_loss, eps, max_iter, seed, w, work,
                   index):
    """L2- or L1-loss SVM by dual CD. ``w`` (length n_feat + 1, last = bias weight) is overwritten; ``work``
    (>= 4n floats) and ``index`` (>= n ints) are scratch, reused across calls to avoid allocation traffic."""
    n = len(y)
    w[:] = 0.0
    alpha = work[:n]
    qd = work[n : 2 * n]
    upper = work[2 * n : 3 * n]
    diag = work[3 * n : 4 * n]
    alpha[:] = 0.0
    diag[:] = 0.0
    for i in range(n):
        c = Cp if y[i] > 0 else Cn
        if l1_loss:
            upper[i] = c
        else:
            diag[i] = 0.5 / c
            upper[i] = np.inf
        qd[i] = xsq[i] + diag[i]
    for i in range(n):
        index[i] = i
    active = n
    pgmax_old = np.inf
    pgmin_old = -np.inf
    state = np.uint64(seed * 2654435761 + 1) | np.uint64(1)
    nb = n_feat
    for _ in range(max_iter):
        pgmax_new = -np.inf
        pgmin_new = np.inf
        state = _shuffle(index, active, state)
        s = 0
        while s < active:
            i = index[s]
            yi = y[i]
            g = yi * _dot(w, indptr, indices, data, i, bias, nb) - 1.0 + alpha[i] * diag[i]
            pg = 0.0
            if alpha[i] == 0.0:
                if g > pgmax_old:
                    active -= 1
                    index[s], index[active] = index[active], index[s]
                    continue
                elif g < 0.0:
                    pg = g
            elif alpha[i] == upper[i]:
                if g < pgmin_old:
                    active -= 1
                    index[s], index[active] = index[active], index[s]
                    continue
                elif g > 0.0:
                    pg = g
            else:
                pg = g
            if pg > pgmax_new:
                pgmax_new = pg
            if pg < pgmin_new:
                pgmin_new = pg
            if abs(pg) > 1e-12:
                a_old = alpha[i]
                a_new = min(max(a_old - g / qd[i], 0.0), upper[i])
                alpha[i] = a_new
                _axpy(w, (a_new - a_old) * yi, indptr, indices, data, i, bias, nb)
            s += 1
        if pgmax_new - pgmin_new <= eps:
            if active == n:
                break
            active = n
            pgmax_old = np.inf
            pgmin_old = -np.inf
            continue
        pgmax_old = pgmax_new if pgmax_new > 0 else np.inf
        pgmin_old = pgmin_new if pgmin_new < 0 else -np.inf
    return alpha


@njit(nogil=True, cache=True)
def solve_lr_dual(indptr, indices, data, xsq, y, n_feat, bias, Cp, Cn, eps, max_iter, seed, w, work, index):
    """L2-regularised logistic regression by dual CD with Newton inner steps (liblinear solver 7)."""
    n = len(y)
    w[:] = 0.0
    alpha = work[: 2 * n]
    upper = work[2 * n : 3 * n]
    nb = n_feat
    for i in range(n):
        c = Cp if y[i] > 0 else Cn
        upper[i] = c
        alpha[2 * i] = min(0.001 * c, 1e-8)
        alpha[2 * i + 1] = c - alpha[2 * i]
        _axpy(w, y[i] * alpha[2 * i], indptr, indices, data, i, bias, nb)
    for i in range(n):
        index[i] = i
    state = np.uint64(seed * 2654435761 + 1) | np.uint64(1)
    innereps = 1e-2
    innereps_min = min(1e-8, eps)
    for _ in range(max_iter):
        state = _shuffle(index, n, state)
        newton_iter = 0
        gmax = 0.0
        for s in range(n):
            i = index[s]
            yi = y[i]
            c = upper[i]
            a = xsq[i]
            b = yi * _dot(w, indptr, indices, data, i, bias, nb)
            ind1 = 2 * i
            ind2 = 2 * i + 1
            sign = 1.0
            if 0.5 * a * (alpha[ind2] - alpha[ind1]) + b < 0:
                ind1 = 2 * i + 1
                ind2 = 2 * i
                sign = -1.0
            alpha_old = alpha[ind1]
            z = alpha_old
            if c - z < 0.5 * c:
                z = 0.1 * z
            gp = a * (z - alpha_old) + sign * b + math.log(z / (c - z))
            gmax = max(gmax, abs(gp))
            inner = 0
            while inner <= 100:
                if abs(gp) < innereps:
                    break
                gpp = a + c / (c - z) / z
                tmpz = z - gp / gpp
                if tmpz <= 0:
                    z *= 0.1
                else:
                    z = tmpz
                gp = a * (z - alpha_old) + sign * b + math.log(z / (c - z))
                newton_iter += 1
                inner += 1
            if inner > 0:
                alpha[ind1] = z
                alpha[ind2] = c - z
                _axpy(w, sign * (z - alpha_old) * yi, indptr, indices, data, i, bias, nb)
        if gmax < eps:
            break
        if newton_iter <= n // 10:
            innereps = max(innereps_min, 0.1 * innereps)
    return alpha


@njit(nogil=True, cache=True)
def solve_binary(indptr, indices, data, xsq, y, n_feat, bias, Cp, Cn, loss, eps, max_iter, seed, w, work=None,
                 index=None):
    """Dispatch on ``loss`` (see :data:`LOSSES`); ``xsq`` holds ||x_i||^2 + bias^2. ``work`` (4n floats) and
    ``index`` (n ints) are optional scratch buffers."""
    n = len(y)
    if work is None:
        work = np.empty(4 * n)
    if index is None:
        index = np.empty(n, dtype=np.int64)
    if loss == 2:
        solve_lr_dual(indptr, indices, data, xsq, y, n_feat, bias, Cp, Cn, eps, max_iter, seed, w, work, index)
    else:
        solve_svm_dual(indptr, indices, data, xsq, y, n_feat, bias, Cp, Cn, loss == 1, eps, max_iter, seed, w,
                       work, index)
