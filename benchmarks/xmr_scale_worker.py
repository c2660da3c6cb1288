"""One library, one phase, one GENERATED data set, in its own process (so its peak RSS is its own).

    PYTHON xmr_scale_worker.py train LIB WORKDIR MODEL_DIR SEED THREADS
    PYTHON xmr_scale_worker.py serve LIB WORKDIR MODEL_DIR THREADS

WORKDIR holds X_train/Y_train/X_test/Y_test as uncompressed scipy ``.npz`` (the same features for every library)
and ``inv_propensity.npy``. ``train`` fits (indexing + matchers; for omikuji, its own text file is written first,
untimed) and saves the model into MODEL_DIR (polymodal: ``compact`` and ``mmap`` layouts side by side); it prints
one JSON line. ``serve`` starts fresh, measures RSS before and after loading, load seconds, batch ms/query and
single-query p50/p99, and saves the top-10 ids for the parent to score (``ids-LAYOUT.npy``). Stage lines go to
stderr so a run killed for time or memory shows how far it got.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from xmr_worker import dir_mb, peak_rss_mb, single_latency, topk_csr

BEAM, THRESHOLD = 10, 0.1


def stage(msg: str) -> None:
    print(f"stage: {msg}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(workdir: Path, name: str) -> sp.csr_matrix:
    return sp.load_npz(workdir / f"{name}.npz").astype(np.float32).tocsr()


# ------------------------------------------------------------------------------------------------ training
def train_polymodal(X, Y, seed, threads, out: Path):
    from polymodal.xmr import XRLinear

    t = time.perf_counter()
    m = XRLinear(seed=seed, threads=threads, beam_size=BEAM, threshold=THRESHOLD).fit(X, Y)
    s = time.perf_counter() - t
    stage("trained")
    m.save(out / "compact")
    m.save(out / "mmap", layout="mmap")
    return s, {"model_mb": dir_mb(out / "compact"), "model_mb_mmap": dir_mb(out / "mmap")}


def train_libpecos(X, Y, seed, threads, out: Path):
    from pecos.xmc import Indexer, LabelEmbeddingFactory
    from pecos.xmc.xlinear.model import XLinearModel

    t = time.perf_counter()
    Z = LabelEmbeddingFactory.create(Y, X, method="pifa")
    C = Indexer.gen(Z, indexer_type="hierarchicalkmeans", seed=seed, threads=threads)
    stage(f"indexed at {time.perf_counter() - t:.1f}s")
    m = XLinearModel.train(X, Y, C=C, threads=threads, threshold=THRESHOLD)
    s = time.perf_counter() - t
    stage("trained")
    m.save(str(out / "m"))
    return s, {"model_mb": dir_mb(out / "m")}


def train_omikuji(X, Y, seed, threads, out: Path):
    import omikuji

    path = out / "train.txt"
    with open(path, "w") as f:
        f.write(f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n")
        for i in range(X.shape[0]):
            labs = ",".join(map(str, Y.indices[Y.indptr[i]:Y.indptr[i + 1]]))
            a, b = X.indptr[i], X.indptr[i + 1]
            f.write(labs + " " + " ".join(f"{j}:{v:.6g}" for j, v in zip(X.indices[a:b], X.data[a:b])) + "\n")
    stage("wrote its training file")
    hp = omikuji.Model.default_hyper_param()
    hp.n_trees = 1
    hp.min_branch_size = 100
    hp.linear_weight_threshold = THRESHOLD
    t = time.perf_counter()
    m = omikuji.Model.train_on_data(str(path), hp, n_threads=threads)
    s = time.perf_counter() - t
    stage("trained")
    path.unlink()
    m.save(str(out / "m"))
    return s, {"model_mb": dir_mb(out / "m")}


# ------------------------------------------------------------------------------------------------ serving
def serve_polymodal(out: Path, layout: str):
    from polymodal.xmr import XRLinear

    t = time.perf_counter()
    m = XRLinear.load(out / layout)
    load_s = time.perf_counter() - t
    return m, load_s, (lambda X, k, threads: m.predict(X, k=k, threads=threads)[0]), \
        (lambda r: m.predict_one(r.indices, r.data, k=10))


def serve_libpecos(out: Path):
    from pecos.xmc.xlinear.model import XLinearModel

    t = time.perf_counter()
    m = XLinearModel.load(str(out / "m"), is_predict_only=True)
    load_s = time.perf_counter() - t
    return m, load_s, (lambda X, k, threads: topk_csr(m.predict(X, beam_size=BEAM, only_topk=k, threads=threads), k)), \
        (lambda r: m.predict(r, beam_size=BEAM, only_topk=10, threads=1))


def serve_omikuji(out: Path):
    import omikuji

    t = time.perf_counter()
    m = omikuji.Model.load(str(out / "m"))
    load_s = time.perf_counter() - t

    def one(r, k=10):
        return m.predict(list(zip(r.indices.tolist(), r.data.tolist())), top_k=k, beam_size=BEAM)

    def batch(X, k, threads):
        ids = np.full((X.shape[0], k), -1, dtype=np.int64)
        for i in range(X.shape[0]):
            row = one(X[i], k)
            ids[i, :len(row)] = [lab for lab, _ in row]
        return ids

    return m, load_s, batch, one


def main() -> None:
    phase, lib, workdir, model_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    model_dir.mkdir(parents=True, exist_ok=True)
    if phase == "train":
        seed, threads = int(sys.argv[5]), int(sys.argv[6])
        X, Y = load(workdir, "X_train"), load(workdir, "Y_train")
        stage("data loaded")
        fn = {"polymodal": train_polymodal, "libpecos": train_libpecos, "omikuji": train_omikuji}[lib]
        train_s, extra = fn(X, Y, seed, threads, model_dir)
        print(json.dumps({"lib": lib, "train_s": train_s, "train_peak_rss_mb": peak_rss_mb(), **extra}))
        return
    threads = int(sys.argv[5])
    layout = sys.argv[6] if len(sys.argv) > 6 else "compact"
    Xte = load(workdir, "X_test")
    if lib == "polymodal":
        from polymodal.xmr import XRLinear  # noqa: F401  (imports and numba caches before the RSS baseline)
    elif lib == "libpecos":
        from pecos.xmc.xlinear.model import XLinearModel  # noqa: F401
    else:
        import omikuji  # noqa: F401
    before = rss_mb()
    if lib == "polymodal":
        m, load_s, batch, one = serve_polymodal(model_dir, layout)
    else:
        m, load_s, batch, one = {"libpecos": serve_libpecos, "omikuji": serve_omikuji}[lib](model_dir)
    after = rss_mb()
    stage(f"loaded in {load_s:.2f}s")
    batch(Xte[:200], 10, threads)  # warm-up (numba kernels load from their cache, first pages fault in), every lib
    t = time.perf_counter()
    ids = batch(Xte, 10, threads)
    batch_ms = (time.perf_counter() - t) / Xte.shape[0] * 1e3
    p50, p99 = single_latency(one, Xte)
    np.save(model_dir / f"ids-{layout}.npy", ids)
    print(json.dumps({"lib": lib, "layout": layout, "load_s": load_s, "rss_before_load_mb": before,
                      "rss_after_load_mb": after, "load_rss_mb": after - before, "batch_ms_per_query": batch_ms,
                      "single_p50_ms": p50, "single_p99_ms": p99, "serve_peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
