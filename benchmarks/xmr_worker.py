"""One library on one prepared dataset, in its own process (so peak RSS is its own). Prints one JSON object.

Run by ``xmr_vs_peers.py`` as ``PYTHON xmr_worker.py LIB WORKDIR SEED THREADS``; LIB is polymodal, libpecos,
omikuji or napkinxc. WORKDIR holds X_train/Y_train/X_test/Y_test as scipy ``.npz`` (same features for every
library). Measures: training seconds (indexing + matchers), model MB on disk, batch ms/query and single-query
p50/p99 with the model *loaded from disk* (libpecos predict-only), P@1/3/5, R@10/R@100, peak RSS, and the RSS
right after importing the library (its runtime: for polymodal numpy, scipy and numba's LLVM).
"""

from __future__ import annotations

import importlib
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

BEAM, THRESHOLD, N_SINGLE = 10, 0.1, 2000


def metrics(Y: sp.csr_matrix, ids: np.ndarray) -> dict:
    n, k = ids.shape
    rows = np.repeat(np.arange(n), k)
    cols = ids.ravel()
    ok = cols >= 0
    hits = np.zeros(n * k)
    hits[ok] = np.asarray(Y[rows[ok], cols[ok]]).ravel() > 0
    hits = hits.reshape(n, k)
    n_true = np.maximum(np.diff(Y.indptr), 1)
    out = {f"P@{j}": 100 * hits[:, :j].sum(1).mean() / j for j in (1, 3, 5)}
    out.update({f"R@{j}": 100 * (hits[:, :j].sum(1) / n_true).mean() for j in (10, 100)})
    return out


def topk_csr(P: sp.csr_matrix, k: int) -> np.ndarray:
    P = sp.csr_matrix(P)
    out = np.full((P.shape[0], k), -1, dtype=np.int64)
    for i in range(P.shape[0]):
        a, b = P.indptr[i], P.indptr[i + 1]
        order = np.argsort(-P.data[a:b], kind="stable")[:k]
        out[i, : len(order)] = P.indices[a:b][order]
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20


def single_latency(fn, X: sp.csr_matrix) -> tuple[float, float]:
    n = min(N_SINGLE, X.shape[0])
    rows = [X[i] for i in range(n)]
    for r in rows[:200]:
        fn(r)  # warm-up
    times = np.empty(n)
    for i, r in enumerate(rows):
        t = time.perf_counter()
        fn(r)
        times[i] = time.perf_counter() - t
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def run_polymodal(X, Y, Xte, seed, threads, tmp):
    from polymodal.xmr import XRLinear

    t = time.perf_counter()
    m = XRLinear(seed=seed, threads=threads, beam_size=BEAM, threshold=THRESHOLD).fit(X, Y)
    train_s = time.perf_counter() - t
    m.save(tmp / "m")
    m = XRLinear.load(tmp / "m")
    t = time.perf_counter()
    ids, _ = m.predict(Xte, k=100)
    batch = (time.perf_counter() - t) / Xte.shape[0]
    p50, p99 = single_latency(lambda r: m.predict_one(r.indices, r.data, k=10), Xte)
    return train_s, dir_mb(tmp / "m"), batch, p50, p99, ids


def run_libpecos(X, Y, Xte, seed, threads, tmp):
    from pecos.xmc import Indexer, LabelEmbeddingFactory
    from pecos.xmc.xlinear.model import XLinearModel

    t = time.perf_counter()
    Z = LabelEmbeddingFactory.create(Y, X, method="pifa")
    C = Indexer.gen(Z, indexer_type="hierarchicalkmeans", seed=seed, threads=threads)
    m = XLinearModel.train(X, Y, C=C, threads=threads, threshold=THRESHOLD)
    train_s = time.perf_counter() - t
    m.save(str(tmp / "m"))
    m = XLinearModel.load(str(tmp / "m"), is_predict_only=True)
    t = time.perf_counter()
    P = m.predict(Xte, beam_size=BEAM, only_topk=100, threads=threads)
    batch = (time.perf_counter() - t) / Xte.shape[0]
    ids = topk_csr(P, 100)
    p50, p99 = single_latency(lambda r: m.predict(r, beam_size=BEAM, only_topk=10, threads=1), Xte)
    return train_s, dir_mb(tmp / "m"), batch, p50, p99, ids


def run_napkinxc(X, Y, Xte, seed, threads, tmp):
    from napkinxc.models import PLT

    labels = [Y.indices[Y.indptr[i] : Y.indptr[i + 1]].tolist() for i in range(Y.shape[0])]
    t = time.perf_counter()
    m = PLT(str(tmp / "m"), seed=seed, threads=threads, arity=16, max_leaves=100)
    m.fit(X, labels)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    pred = m.predict(Xte, top_k=100)
    batch = (time.perf_counter() - t) / Xte.shape[0]
    ids = np.full((Xte.shape[0], 100), -1, dtype=np.int64)
    for i, row in enumerate(pred):
        ids[i, : len(row)] = row
    p50, p99 = single_latency(lambda r: m.predict(r, top_k=10), Xte)
    return train_s, dir_mb(tmp / "m"), batch, p50, p99, ids


def run_omikuji(X, Y, Xte, seed, threads, tmp):
    import omikuji

    path = tmp / "train.txt"
    with open(path, "w") as f:
        f.write(f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n")
        for i in range(X.shape[0]):
            labs = ",".join(map(str, Y.indices[Y.indptr[i] : Y.indptr[i + 1]]))
            feats = " ".join(f"{j}:{v:.6g}" for j, v in zip(X.indices[X.indptr[i] : X.indptr[i + 1]],
                                                              X.data[X.indptr[i] : X.indptr[i + 1]]))
            f.write(f"{labs} {feats}\n")
    hp = omikuji.Model.default_hyper_param()
    hp.n_trees = 1  # one tree, like XR-Linear (omikuji's default is an ensemble of 3)
    hp.min_branch_size = 100
    hp.linear_weight_threshold = THRESHOLD
    t = time.perf_counter()
    m = omikuji.Model.train_on_data(str(path), hp, n_threads=threads)
    train_s = time.perf_counter() - t
    m.save(str(tmp / "m"))
    m = omikuji.Model.load(str(tmp / "m"))

    def one(r, k=10):
        return m.predict(list(zip(r.indices.tolist(), r.data.tolist())), top_k=k, beam_size=BEAM)

    ids = np.full((Xte.shape[0], 100), -1, dtype=np.int64)
    t = time.perf_counter()
    for i in range(Xte.shape[0]):
        row = one(Xte[i], 100)
        ids[i, : len(row)] = [lab for lab, _ in row]
    batch = (time.perf_counter() - t) / Xte.shape[0]
    p50, p99 = single_latency(one, Xte)
    return train_s, dir_mb(tmp / "m"), batch, p50, p99, ids


IMPORTS = {"polymodal": "polymodal.xmr", "libpecos": "pecos.xmc.xlinear.model", "napkinxc": "napkinxc.models",
           "omikuji": "omikuji"}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    lib, workdir, seed, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    importlib.import_module(IMPORTS[lib])
    import_rss = rss_mb()  # the library's own runtime before any data: part of every peak below
    X = sp.load_npz(workdir / "X_train.npz").astype(np.float32).tocsr()
    Y = sp.load_npz(workdir / "Y_train.npz").astype(np.float32).tocsr()
    Xte = sp.load_npz(workdir / "X_test.npz").astype(np.float32).tocsr()
    Yte = sp.load_npz(workdir / "Y_test.npz").tocsr()
    runner = {"polymodal": run_polymodal, "libpecos": run_libpecos, "napkinxc": run_napkinxc,
              "omikuji": run_omikuji}[lib]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{lib}-"))
    try:
        train_s, mb, batch, p50, p99, ids = runner(X, Y, Xte, seed, threads, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    np.save(workdir / f"ids-{lib}-{seed}.npy", ids[:, :10])  # the parent adds PSP@k (peers lack polymodal)
    res = {"lib": lib, "seed": seed, "train_s": train_s, "model_mb": mb, "batch_ms_per_query": batch * 1e3,
           "single_p50_ms": p50, "single_p99_ms": p99, **metrics(Yte, ids),
           "peak_rss_mb": peak_rss_mb(), "import_rss_mb": import_rss}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
