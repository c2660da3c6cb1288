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


# Several SVM problems over the same rows at once. A parent's children all train on its active rows; solving them
# one after another reads every row (indices, values) and gathers a cache line of w per non-zero, once per child
# and pass. Interleaving B children, W[f * B + b], turns each gather into one line that serves B children, and each
# row is read once per pass for all of them. Per child the algorithm is the dual CD above: the same gradient,
# projection, shrinking rule and stopping rule; the children share one random order per pass, and a shrunk
# (row, child) pair is skipped by a flag instead of being swapped out of a per-child index list.
MULTI = 8  # _dot8/_axpy8 are written out for 8


@njit(nogil=True, cache=True, inline="always")
def _dot8(W, indptr, indices, data, i, bias, nb):
    """Row i against the 8 interleaved weight vectors. Scalar float32 accumulators stay in registers and
    vectorise (an array would be reloaded and stored on every non-zero, as numba cannot prove it does not alias
    W; float64 accumulators cost a conversion per product: 1.7x slower in a micro-benchmark)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float32(0.0)
    for k in range(indptr[i], indptr[i + 1]):
        f = np.int64(indices[k]) * 8
        v = data[k]
        s0 += W[f] * v
        s1 += W[f + 1] * v
        s2 += W[f + 2] * v
        s3 += W[f + 3] * v
        s4 += W[f + 4] * v
        s5 += W[f + 5] * v
        s6 += W[f + 6] * v
        s7 += W[f + 7] * v
    if bias > 0:
        f = nb * 8
        bf = np.float32(bias)
        s0 += W[f] * bf
        s1 += W[f + 1] * bf
        s2 += W[f + 2] * bf
        s3 += W[f + 3] * bf
        s4 += W[f + 4] * bf
        s5 += W[f + 5] * bf
        s6 += W[f + 6] * bf
        s7 += W[f + 7] * bf
    return s0, s1, s2, s3, s4, s5, s6, s7


@njit(nogil=True, cache=True, inline="always")
def _axpy8(W, delta, indptr, indices, data, i, bias, nb):
    d0, d1, d2, d3 = np.float32(delta[0]), np.float32(delta[1]), np.float32(delta[2]), np.float32(delta[3])
    d4, d5, d6, d7 = np.float32(delta[4]), np.float32(delta[5]), np.float32(delta[6]), np.float32(delta[7])
    for k in range(indptr[i], indptr[i + 1]):
        f = np.int64(indices[k]) * 8
        v = data[k]
        W[f] += d0 * v
        W[f + 1] += d1 * v
        W[f + 2] += d2 * v
        W[f + 3] += d3 * v
        W[f + 4] += d4 * v
        W[f + 5] += d5 * v
        W[f + 6] += d6 * v
        W[f + 7] += d7 * v
    if bias > 0:
        f = nb * 8
        bf = np.float32(bias)
        W[f] += d0 * bf
        W[f + 1] += d1 * bf
        W[f + 2] += d2 * bf
        W[f + 3] += d3 * bf
        W[f + 4] += d4 * bf
        W[f + 5] += d5 * bf
        W[f + 6] += d6 * bf
        W[f + 7] += d7 * bf



@njit(nogil=True, cache=True)
def solve_svm_dual_multi(indptr, indices, data, xsq, Y, nb_child, n_feat, bias, Cp, Cn, l1_loss, eps, max_iter, seed, W,
                         alpha, act, index):
    """``nb_child`` <= ``MULTI`` L2- or L1-loss SVMs on the same rows, laid out with stride ``B = MULTI`` (a
    compile-time constant, so the inner loops over children vectorise). ``Y`` (n * B int8, +-1, ``Y[i * B + b]``;
    columns b >= nb_child are ignored); ``W`` ((n_feat + 1) * B float32, ``W[f * B + b]``, last feature = bias)
    is overwritten; ``alpha`` (n * B floats), ``act`` (n * B int8) and ``index`` (n ints) are scratch."""
    B = MULTI
    n = len(xsq)
    nb = n_feat
    W[: (n_feat + 1) * B] = 0.0
    alpha[: n * B] = 0.0
    act[: n * B] = 0
    row_act = np.full(n, nb_child, dtype=np.int64)
    n_act = np.zeros(B, dtype=np.int64)
    done = np.ones(B, dtype=np.bool_)  # the padding columns b >= nb_child are finished from the start
    for b in range(nb_child):
        done[b] = False
        n_act[b] = n
        for i in range(n):
            act[i * B + b] = 1
    pgmax_old = np.full(B, np.inf)
    pgmin_old = np.full(B, -np.inf)
    pgmax_new = np.empty(B)
    pgmin_new = np.empty(B)
    g = np.empty(B)
    delta = np.empty(B)
    dg_p = 0.0 if l1_loss else 0.5 / Cp  # diagonal D_ii and upper bound U_i depend only on the sign of y_i
    dg_n = 0.0 if l1_loss else 0.5 / Cn
    up_p = Cp if l1_loss else np.inf
    up_n = Cn if l1_loss else np.inf
    for i in range(n):
        index[i] = i
    state = np.uint64(seed * 2654435761 + 1) | np.uint64(1)
    left = nb_child
    for _ in range(max_iter):
        if left == 0:
            break
        pgmax_new[:] = -np.inf
        pgmin_new[:] = np.inf
        state = _shuffle(index, n, state)
        for s in range(n):
            i = index[s]
            if row_act[i] == 0:
                continue
            base = i * B
            g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7] = _dot8(W, indptr, indices, data, i, bias, nb)
            moved = False
            for b in range(B):
                delta[b] = 0.0
                if act[base + b] == 0:
                    continue
                yi = np.float64(Y[base + b])
                a = alpha[base + b]
                dg = dg_p if yi > 0 else dg_n
                up = up_p if yi > 0 else up_n
                gb = yi * g[b] - 1.0 + a * dg
                pg = 0.0
                if a == 0.0:
                    if gb > pgmax_old[b]:
                        act[base + b] = 0
                        row_act[i] -= 1
                        n_act[b] -= 1
                        continue
                    elif gb < 0.0:
                        pg = gb
                elif a == up:
                    if gb < pgmin_old[b]:
                        act[base + b] = 0
                        row_act[i] -= 1
                        n_act[b] -= 1
                        continue
                    elif gb > 0.0:
                        pg = gb
                else:
                    pg = gb
                if pg > pgmax_new[b]:
                    pgmax_new[b] = pg
                if pg < pgmin_new[b]:
                    pgmin_new[b] = pg
                if abs(pg) > 1e-12:
                    a_new = min(max(a - gb / (xsq[i] + dg), 0.0), up)
                    alpha[base + b] = a_new
                    delta[b] = (a_new - a) * yi
                    moved = True
            if moved:
                _axpy8(W, delta, indptr, indices, data, i, bias, nb)
        for b in range(B):
            if done[b]:
                continue
            if pgmax_new[b] - pgmin_new[b] <= eps:
                if n_act[b] == n:  # converged on every row: this child is finished
                    done[b] = True
                    left -= 1
                    for i in range(n):
                        if act[i * B + b]:
                            act[i * B + b] = 0
                            row_act[i] -= 1
                    n_act[b] = 0
                else:  # converged on the active rows: check again on all of them
                    for i in range(n):
                        if act[i * B + b] == 0:
                            act[i * B + b] = 1
                            row_act[i] += 1
                    n_act[b] = n
                    pgmax_old[b] = np.inf
                    pgmin_old[b] = -np.inf
                continue
            pgmax_old[b] = pgmax_new[b] if pgmax_new[b] > 0 else np.inf
            pgmin_old[b] = pgmin_new[b] if pgmin_new[b] < 0 else -np.inf
    return alpha
