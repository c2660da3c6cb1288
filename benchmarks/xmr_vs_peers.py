"""XR-Linear side by side with libpecos, omikuji and napkinXC on the same features, same machine, same run.

    make bench-peers                      # peers in .venv-peers (libpecos without its CUDA torch)
    .venv/bin/python benchmarks/xmr_vs_peers.py --datasets debian-depends --seeds 0 1 2

``--datasets synth:bow`` (any ``synth-xmc`` size) adds a GENERATED set with the generator's own feature shards
(the short bag-of-words regime: 500 features, ~19 labels per row); it is marked generated in the results.

Each real dataset is built from the real files and vectorised once with polymodal's features (word 1-2-gram + char_wb
2-4-gram TF-IDF); every library gets exactly those matrices. Each (library, seed) runs in its own process
(``xmr_worker.py``), 2 threads, beam 10, weight threshold 0.1. Prints a table of medians over seeds and writes
``results/xmr/vs_peers.json`` with every run (P@k and, from the training label counts, PSP@k). polymodal's
end-to-end text -> top-10 latency (vectorise + beam search, loaded model) is measured separately here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from entry import run
from provenance import commit, environment, write_json

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = {"polymodal": ROOT / ".venv/bin/python", "libpecos": ROOT / ".venv-peers/bin/python",
           "omikuji": ROOT / ".venv-peers/bin/python", "napkinxc": ROOT / ".venv-peers/bin/python"}
COLUMNS = ["P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5", "R@10", "R@100", "train_s", "batch_ms_per_query",
           "single_p50_ms", "single_p99_ms", "model_mb", "peak_rss_mb", "import_rss_mb"]


def prepare(name: str, work: Path) -> dict:
    from polymodal.datasets import build_text_dataset
    from polymodal.xmr import TextVectorizer
    from polymodal.xmr.metrics import labels_to_csr

    work.mkdir(parents=True, exist_ok=True)
    ds = build_text_dataset(name)
    L = len(ds.labels)
    vec = TextVectorizer()
    t = time.perf_counter()
    X = vec.fit_transform(ds.train_texts)
    fit_s = time.perf_counter() - t
    Xte = vec.transform(ds.test_texts)
    for key, M in {"X_train": X, "Y_train": labels_to_csr(ds.train_labels, L), "X_test": Xte,
                   "Y_test": labels_to_csr(ds.test_labels, L)}.items():
        sp.save_npz(work / f"{key}.npz", sp.csr_matrix(M, dtype=np.float32), compressed=False)
    info = {**ds.summary(), "n_features": X.shape[1], "vectorizer_fit_s": fit_s}
    return info, vec, ds


def prepare_synth(size: str) -> tuple[Path, dict]:
    """A GENERATED set (``synth-xmc --size SIZE``, seed 0, its own feature shards), generated once by the scale
    benchmark's own preparation (``runs/synth/SIZE-s0/worker``)."""
    from xmr_scale import prepare as prepare_generated

    work, info = prepare_generated(size, 0, ROOT / "runs")
    return work, {**info, "name": f"synth:{size}", "avg_labels_per_train_example": info["labels_per_row"]}


def e2e_latency(vec, ds, seed: int, threads: int, work: Path) -> dict:
    """Text -> top-10 label ids through polymodal's loaded text model (vectoriser + beam search)."""
    from polymodal.xmr import XRLinear, XRTextModel

    X = sp.load_npz(work / "X_train.npz")
    Y = sp.load_npz(work / "Y_train.npz")
    m = XRTextModel(seed=seed, threads=threads)
    m.vectorizer = vec
    m.xr = XRLinear(seed=seed, threads=threads).fit(X, Y)
    m.labels_ = ds.labels
    m.save(work / "text-model")
    m = XRTextModel.load(work / "text-model")
    texts = ds.test_texts[:2000]
    for t in texts[:200]:
        m.predict_one(t, k=10)
    times = []
    for t in texts:
        a = time.perf_counter()
        m.predict_one(t, k=10)
        times.append(time.perf_counter() - a)
    return {"e2e_p50_ms": float(np.percentile(times, 50) * 1e3), "e2e_p99_ms": float(np.percentile(times, 99) * 1e3)}


def warm_numba_cache(work: Path, threads: int) -> None:
    """Fit and query polymodal once on a slice, so every worker loads its numba kernels from the on-disk cache
    rather than compiling them inside a timed section (a fresh install compiles once, about 15 s)."""
    from polymodal.xmr import XRLinear

    X = sp.load_npz(work / "X_train.npz")[:3000]
    Y = sp.load_npz(work / "Y_train.npz")[:3000]
    m = XRLinear(threads=threads).fit(X, Y)
    m.predict(X[:100], k=10)
    m.predict_one(X[0].indices, X[0].data, k=10)


def run_worker(lib: str, work: Path, seed: int, threads: int) -> dict | None:
    py = PYTHONS[lib]
    if not py.exists():
        print(f"  {lib}: {py} missing (run make bench-peers)", file=sys.stderr)
        return None
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([str(py), str(ROOT / "benchmarks/xmr_worker.py"), lib, str(work), str(seed), str(threads)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(f"  {lib} seed {seed} failed:\n{r.stderr[-2000:]}", file=sys.stderr)
        return None
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res.update(propensity_scores(work, work / f"ids-{lib}-{seed}.npy"))
    return res


def propensity_scores(work: Path, ids_path: Path) -> dict:
    """PSP@1/3/5 (A = 0.55, B = 1.5, from the training label counts) of a worker's top-10 ids."""
    from polymodal.xmr.metrics import inverse_propensity, propensity_metrics

    Y = sp.load_npz(work / "Y_train.npz").tocsr()
    inv_p = inverse_propensity(np.bincount(Y.indices, minlength=Y.shape[1]), Y.shape[0])
    ids = np.load(ids_path)
    ids_path.unlink()
    out = propensity_metrics(sp.load_npz(work / "Y_test.npz").tocsr(), ids, inv_p, ks=(1, 3, 5))
    return {k: v for k, v in out.items() if k.startswith("PSP@")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["debian-depends", "debian-debtags", "aol-clicks"])
    ap.add_argument("--libs", nargs="+", default=["polymodal", "libpecos", "omikuji", "napkinxc"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "results/xmr/vs_peers.json")
    args = ap.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.datasets:
        work = ROOT / "bench-results/work" / name
        print(f"== {name}: building and vectorising", flush=True)
        if name.startswith("synth:"):  # GENERATED: the generator's own features, no text pipeline
            (work, info), vec, ds = prepare_synth(name.split(":", 1)[1]), None, None
        else:
            info, vec, ds = prepare(name, work)
        print(f"   {info['n_train']} train, {info['n_test']} test, {info['n_labels']} labels, "
              f"{info['n_features']} features", flush=True)
        if "polymodal" in args.libs:
            warm_numba_cache(work, args.threads)
        runs = []
        for seed in args.seeds:
            for lib in args.libs:
                r = run_worker(lib, work, seed, args.threads)
                if r:
                    runs.append(r)
                    print(f"   {lib:10s} seed {seed}: P@1 {r['P@1']:.2f} train {r['train_s']:.1f}s "
                          f"p50 {r['single_p50_ms']:.3f}ms batch {r['batch_ms_per_query']:.3f}ms", flush=True)
        e2e = e2e_latency(vec, ds, args.seeds[0], args.threads, work) if "polymodal" in args.libs and vec else {}
        med = {}
        for lib in args.libs:
            rs = [r for r in runs if r["lib"] == lib]
            if rs:
                med[lib] = {c: float(np.median([r[c] for r in rs])) for c in COLUMNS} | {"runs": len(rs)}
        if "polymodal" in med:
            med["polymodal"].update(e2e)
        results[name] = {"info": info, "median": med, "runs": runs, "threads": args.threads,
                         "command": " ".join(sys.argv), "commit": commit(),
                         "environment": environment(("numpy", "scipy", "scikit-learn", "numba"))}
        print_table(name, med)
        write_json(args.out, results)


def print_table(name: str, med: dict) -> None:
    hdr = ["lib"] + COLUMNS
    print(f"\n{name} (medians over seeds)")
    print(" | ".join(f"{h:>10s}" for h in hdr))
    for lib, m in med.items():
        print(" | ".join([f"{lib:>10s}"] + [f"{m[c]:10.3f}" for c in COLUMNS]))
    if "polymodal" in med and "libpecos" in med:
        p, q = med["polymodal"], med["libpecos"]
        print("ratios polymodal/libpecos: " + ", ".join(
            f"{c} {p[c] / q[c]:.2f}x" for c in ("train_s", "batch_ms_per_query", "single_p50_ms", "model_mb")))
        print("P@k difference (points): " + ", ".join(f"{c} {p[c] - q[c]:+.2f}" for c in ("P@1", "P@3", "P@5")))
    print()


if __name__ == "__main__":
    run(main)
