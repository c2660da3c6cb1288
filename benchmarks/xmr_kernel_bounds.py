"""What bounds XR-Linear training: the solver's and k-means's inner loops against the size of their working set.

    .venv/bin/python benchmarks/xmr_kernel_bounds.py          # writes results/xmr/kernel_bounds.json

This VM exposes no hardware counters (``perf stat`` reports them as not supported), so the memory hierarchy is
measured from the outside: each kernel runs over the same rows (150 non-zeros, uniform random features, float32
values, like a TF-IDF row) while the weight vector it gathers from and scatters to grows from L1-sized to
DRAM-sized. The time per non-zero is flat while the vector fits a cache level and steps up when it does not, so
comparing a real problem's working set (``working_sets``: per level of a real set's tree, the local feature count
of a parent, weighted by work) with the steps says whether training waits on cache misses or on arithmetic.

Kernels (the ones training runs): ``dot+axpy x1`` (one child: ``solver._dot``/``_axpy``, a gather and a scatter
per non-zero), ``dot+axpy x8`` (``solver._dot8``/``_axpy8``: eight interleaved children, one 32-byte line per
non-zero), ``kmeans score`` (one gather per non-zero into the float32 center difference), and ``stream`` (the
row's values summed: the cost of reading the rows alone).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numba import njit

from entry import run
from provenance import ROOT, commit, environment, write_json

NNZ_ROW = 150


def _kernels():
    from polymodal.xmr.solver import _axpy, _axpy8, _dot, _dot8

    @njit(cache=False)
    def x1(w, indptr, indices, data, reps):
        t = 0.0
        nb = len(w) - 1
        for _ in range(reps):
            for i in range(len(indptr) - 1):
                t += _dot(w, indptr, indices, data, i, 1.0, nb)
                _axpy(w, 1e-6, indptr, indices, data, i, 1.0, nb)
        return t

    @njit(cache=False)
    def x8(W, indptr, indices, data, reps):
        t = 0.0
        nb = len(W) // 8 - 1
        delta = np.full(8, 1e-6)
        for _ in range(reps):
            for i in range(len(indptr) - 1):
                g = _dot8(W, indptr, indices, data, i, 1.0, nb)
                t += g[0] + g[7]
                _axpy8(W, delta, indptr, indices, data, i, 1.0, nb)
        return t

    @njit(cache=False)
    def score(D, indptr, indices, data, reps):
        t = 0.0
        for _ in range(reps):
            for i in range(len(indptr) - 1):
                s = np.float32(0.0)
                for k in range(indptr[i], indptr[i + 1]):
                    s += data[k] * D[indices[k]]
                t += s
        return t

    @njit(cache=False)
    def stream(D, indptr, indices, data, reps):
        t = 0.0
        for _ in range(reps):
            for i in range(len(indptr) - 1):
                s = np.float32(0.0)
                for k in range(indptr[i], indptr[i + 1]):
                    s += data[k]
                t += s
        return t

    return {"dot+axpy x1": (x1, 1), "dot+axpy x8": (x8, 8), "kmeans score": (score, 1), "stream": (stream, 1)}


def measure(fn, width: int, features: int, rows: int, repeats: int, rng) -> float:
    """Median ns per non-zero over ``repeats`` timings of one sweep over the rows."""
    indptr = np.arange(rows + 1, dtype=np.int64) * NNZ_ROW
    indices = rng.integers(0, features, rows * NNZ_ROW).astype(np.uint32)
    data = rng.random(rows * NNZ_ROW, dtype=np.float32)
    w = np.zeros((features + 1) * width, dtype=np.float32)
    fn(w, indptr, indices, data, 1)  # compile and touch every page
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(w, indptr, indices, data, 1)
        times.append(time.perf_counter() - t)
    return statistics.median(times) / (rows * NNZ_ROW) * 1e9


def working_sets(name: str) -> list[dict]:
    """Per level of a real set's tree: the bytes of one parent's weight vector (its active rows' distinct
    features x 4 bytes; x 8 interleaved), as quantiles weighted by the parent's share of the level's work."""
    from polymodal.xmr import XRLinear
    from polymodal.xmr.indexer import hierarchical_kmeans, pifa
    from xmr_vs_peers import prepare

    work = ROOT / "bench-results/work" / name
    prepare(name, work)
    X = sp.load_npz(work / "X_train.npz").tocsr()
    Y = sp.load_npz(work / "Y_train.npz").tocsr()
    tree = hierarchical_kmeans(pifa(X, Y), XRLinear().config.indexer_config(), 2)
    out = []
    Xb = sp.csr_matrix((np.ones(X.nnz, np.float32), X.indices, X.indptr), shape=X.shape)
    row_nnz = np.diff(X.indptr)
    Yt = sp.csr_matrix(Y[:, tree.label_perm])
    levels = [Yt]
    for t in range(tree.depth, 1, -1):  # label matrices of the parent levels, leaves up
        par = tree.parents(t)
        M = sp.csr_matrix((np.ones(len(par), np.float32), (np.arange(len(par)), par)),
                          shape=(len(par), tree.level_size(t - 1)))
        levels.insert(0, sp.csr_matrix(levels[0] @ M))
    for t in range(1, tree.depth + 1):
        if t == 1:
            nl = np.array([X.shape[1]])
            cost = np.array([float(X.nnz)])
        else:
            A = levels[t - 2].copy()
            A.data[:] = 1.0
            nl = np.diff(sp.csr_matrix(A.T @ Xb).indptr)
            kids = np.diff(tree.ptrs[t - 1])
            cost = (A.T @ row_nnz.astype(np.float64)) * kids
        order = np.argsort(nl)
        cw = np.cumsum(cost[order]) / cost.sum()
        q = {f"p{int(p * 100)}": int(nl[order][np.searchsorted(cw, p)]) for p in (0.1, 0.5, 0.9)}
        out.append({"level": t, "nodes": tree.level_size(t), "parents": len(nl),
                    "features_per_parent_work_weighted": q,
                    "vector_kb_x1": {k: v * 4 / 1024 for k, v in q.items()},
                    "vector_kb_x8": {k: v * 32 / 1024 for k, v in q.items()}})
        print(f"{name} level {t}: local features per parent (work-weighted p10/p50/p90) {q}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000, help="rows per sweep (3M non-zeros)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--datasets", nargs="*", default=["debian-depends", "aol-clicks"])
    ap.add_argument("--out", type=Path, default=ROOT / "results/xmr/kernel_bounds.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    sizes_kb = [16, 128, 512, 2048, 8192, 32768, 131072]  # bytes of the gathered vector(s)
    rows = []
    for name, (fn, width) in _kernels().items():
        for kb in sizes_kb:
            features = max(kb * 1024 // (4 * width), 1)
            ns = measure(fn, width, features, args.rows, args.repeats, rng)
            rows.append({"kernel": name, "vector_kb": kb, "features": features, "ns_per_nnz": ns,
                         "ns_per_nnz_per_child": ns / width})
            print(f"{name:14s} vector {kb:7d} KB: {ns:6.2f} ns/nnz ({ns / width:.2f} per child)", flush=True)
    write_json(args.out, {"command": " ".join(["benchmarks/xmr_kernel_bounds.py", *sys.argv[1:]]),
                          "commit": commit(), "environment": environment(("numpy", "numba")),
                          "nnz_per_row": NNZ_ROW, "rows_per_sweep": args.rows, "repeats": args.repeats,
                          "rows": rows, "working_sets": {n: working_sets(n) for n in args.datasets}})


if __name__ == "__main__":
    run(main)
