"""XR-Linear at scale on GENERATED data: polymodal, libpecos and omikuji on the same features, same machine.

    make bench-peers
    .venv/bin/python benchmarks/xmr_scale.py --sizes S M --libs polymodal libpecos omikuji

For each named size of ``polymodal datasets synth-xmc`` (GENERATED data, never a real result) the data are
generated once under ``runs/synth/`` and every library gets exactly the same sparse matrices. Each (library,
phase) runs in its own process (``xmr_scale_worker.py``): ``train`` (indexing + matchers, 2 threads, beam 10,
threshold 0.1, one tree) and ``serve`` (a fresh process: load seconds, RSS before/after the load, batch
ms/query, single-query p50/p99, P@1/3/5, PSP@1/3/5 with A = 0.55, B = 1.5). polymodal is served twice, from its
compact and its memory-mapped layout, and the memory-mapped model is loaded by two processes at once to measure
how much of it they share (proportional set size). The parent samples each child's RSS every 0.2 s; a child
past ``--timeout`` seconds or leaving under ``--min-free-gb`` of free memory is killed, and that is recorded as
its result with the last stage it reached. Writes ``results/xmr/scale.json`` and ``results/xmr/scale.png``
(training time and peak memory against the number of labels, with the fitted growth exponent per library).
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
HERE = Path(__file__).resolve().parent
PYTHONS = {"polymodal": ROOT / ".venv/bin/python", "libpecos": ROOT / ".venv-peers/bin/python",
           "omikuji": ROOT / ".venv-peers/bin/python"}


def prepare(size: str, seed: int, runs: Path) -> tuple[Path, dict]:
    """Generate the named size once (``runs/synth/SIZE-sSEED``) and write the worker's matrices beside it."""
    from polymodal.datasets.synth_xmc import SynthConfig, load_shards, write_synth
    from polymodal.xmr.metrics import inverse_propensity

    cfg = SynthConfig.named(size, seed=seed)
    data = runs / "synth" / f"{size}-s{seed}"
    meta_path = data / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    gen_s = None
    if meta is None or meta.get("config") != {k: getattr(cfg, k) for k in meta.get("config", {})}:
        t = time.perf_counter()
        meta = write_synth(cfg, data, text=False)
        gen_s = time.perf_counter() - t
    work = data / "worker"
    if gen_s is not None or not (work / "inv_propensity.npy").is_file():  # new data: the worker's copy too
        work.mkdir(parents=True, exist_ok=True)
        for split in ("train", "test"):
            X, Y = load_shards(data, split)
            sp.save_npz(work / f"X_{split}.npz", X, compressed=False)
            sp.save_npz(work / f"Y_{split}.npz", Y, compressed=False)
            if split == "train":
                counts = np.bincount(Y.indices, minlength=Y.shape[1])
                n_train = Y.shape[0]
        np.save(work / "inv_propensity.npy", inverse_propensity(counts, n_train))
    X = sp.load_npz(work / "X_train.npz")
    Y = sp.load_npz(work / "Y_train.npz")
    info = {"size": size, "generated": True, "n_labels": meta["n_labels"], "n_features": meta["n_features"],
            "n_train": meta["n_train"], "n_test": meta["n_test"], "labels_per_row": meta["labels_per_train_row"],
            "exponent_measured": meta["exponent_measured"], "X_mb": (X.data.nbytes + X.indices.nbytes
                                                                     + X.indptr.nbytes) / 2**20,
            "Y_mb": (Y.data.nbytes + Y.indices.nbytes + Y.indptr.nbytes) / 2**20, "generate_s": gen_s,
            "config": meta["config"]}
    return work, info


def _proc_kb(pid: int, key: str, file: str = "status") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _free_gb() -> float:
    kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            kb = int(line.split()[1])
    return kb / 2**20


def supervise(cmd: list[str], timeout: float, min_free_gb: float) -> dict:
    """Run a worker, sampling its RSS; kill it past ``timeout`` s or when free memory falls under the floor."""
    t0 = time.perf_counter()
    err_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"xmr-scale-{os.getpid()}-{time.time_ns()}.err"
    with open(err_path, "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=HERE)
        peak, status = 0, None
        while p.poll() is None:
            rss = _proc_kb(p.pid, "VmHWM") or 0
            peak = max(peak, rss)
            if time.perf_counter() - t0 > timeout:
                status = f"timeout after {timeout:.0f} s"
            elif _free_gb() < min_free_gb:
                status = f"out of memory (killed with {_free_gb():.1f} GB left, at {peak / 2**20:.1f} GB RSS)"
            if status:
                p.kill()
                break
            time.sleep(0.2)
        out, _ = p.communicate()
    stages = [ln[len("stage: "):] for ln in err_path.read_text().splitlines() if ln.startswith("stage: ")]
    tail = err_path.read_text()[-1500:]
    err_path.unlink(missing_ok=True)
    wall = time.perf_counter() - t0
    if status is None and p.returncode != 0:
        status = f"failed (exit {p.returncode})"
    if status:
        return {"status": status, "wall_s": wall, "peak_rss_mb_seen": peak / 1024,
                "last_stage": stages[-1] if stages else None, "stderr_tail": tail if "failed" in status else None}
    res = json.loads(out.strip().splitlines()[-1])
    res.update({"status": "ok", "wall_s": wall, "stages": stages})
    return res


def shared_memory(work: Path, model_dir: Path, n: int, threads: int) -> dict:
    """Start n polymodal serve-phase holders on the memory-mapped model at once; RSS and PSS of each once all
    have loaded and answered the whole test set."""
    code = ("import sys, numpy as np, scipy.sparse as sp; from polymodal.xmr import XRLinear; "
            f"m = XRLinear.load({str(model_dir / 'mmap')!r}); "
            f"X = sp.load_npz({str(work / 'X_test.npz')!r}).astype(np.float32).tocsr(); "
            f"m.predict(X, k=10, threads={threads}); print('ready', flush=True); sys.stdin.read()")
    procs = [subprocess.Popen([str(PYTHONS["polymodal"]), "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a holder did not start")
        rss = [(_proc_kb(p.pid, "Rss", "smaps_rollup") or 0) / 1024 for p in procs]
        pss = [(_proc_kb(p.pid, "Pss", "smaps_rollup") or 0) / 1024 for p in procs]
        file_rss = [(_proc_kb(p.pid, "RssFile") or 0) / 1024 for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return {"processes": n, "rss_mb": rss, "pss_mb": pss, "rss_file_mb": file_rss, "pss_total_mb": sum(pss)}


def accuracy(work: Path, ids_path: Path) -> dict:
    """P@1/3/5, PSP@1/3/5 and PSnDCG@1/3/5 of a worker's top-10 ids (computed here: peers' environments do not
    have polymodal)."""
    from polymodal.xmr.metrics import propensity_metrics, ranking_metrics

    Yte = sp.load_npz(work / "Y_test.npz").tocsr()
    ids = np.load(ids_path)
    ids_path.unlink()
    r = ranking_metrics(Yte, ids, ks=(1, 3, 5))
    r.update(propensity_metrics(Yte, ids, np.load(work / "inv_propensity.npy"), ks=(1, 3, 5)))
    return {k: v for k, v in r.items() if k.split("@")[0] in ("P", "PSP", "PSnDCG")}


def growth(rows: list[dict], key: str) -> dict:
    """Least-squares exponent b of ``key ~ labels^b`` per library over its successful sizes."""
    out = {}
    for lib in sorted({r["lib"] for r in rows}):
        pts = [(r["n_labels"], r[key]) for r in rows if r["lib"] == lib and r.get(key)]
        if len(pts) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            out[lib] = float(np.polyfit(x, y, 1)[0])
    return out


def plot(rows: list[dict], exps: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "train_s", "training seconds"), (axes[1], "train_peak_rss_mb",
                                                                      "training peak RSS (MB)")):
        for lib in sorted({r["lib"] for r in rows}):
            pts = sorted((r["n_labels"], r[key]) for r in rows if r["lib"] == lib and r.get(key))
            if not pts:
                continue
            b = exps.get(key, {}).get(lib)
            ax.plot(*zip(*pts), "o-", label=f"{lib}" + (f" (exponent {b:.2f})" if b is not None else ""))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("labels (GENERATED data)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("XR-Linear training on generated XMC data, 2 threads")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["S", "M"])
    ap.add_argument("--libs", nargs="+", default=["polymodal", "libpecos", "omikuji"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5400.0, help="seconds per (library, size, phase)")
    ap.add_argument("--min-free-gb", type=float, default=1.0)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--out", type=Path, default=ROOT / "results/xmr/scale.json")
    args = ap.parse_args()
    prev = json.loads(args.out.read_text()) if args.out.is_file() else {}
    rows = [r for r in prev.get("rows", []) if not (r["size"] in args.sizes and r["lib"] in args.libs)]
    datasets = prev.get("datasets", {})
    sharing = prev.get("sharing", {})
    for size in args.sizes:
        work, info = prepare(size, args.seed, args.runs)
        datasets[size] = info
        print(f"{size}: {info['n_labels']} labels, {info['n_train']} rows (GENERATED)", flush=True)
        for lib in args.libs:
            model_dir = args.runs / "scale-models" / f"{size}-{lib}"
            py = str(PYTHONS[lib])
            tr = supervise([py, "xmr_scale_worker.py", "train", lib, str(work), str(model_dir), str(args.seed),
                            str(args.threads)], args.timeout, args.min_free_gb)
            row = {"size": size, "lib": lib, "n_labels": info["n_labels"], "train": tr}
            if tr["status"] == "ok":
                row["train_s"] = tr["train_s"]
                row["train_peak_rss_mb"] = tr["train_peak_rss_mb"]
                layouts = ["compact", "mmap"] if lib == "polymodal" else ["default"]
                row["serve"] = {}
                for lay in layouts:
                    sv = supervise([py, "xmr_scale_worker.py", "serve", lib, str(work), str(model_dir),
                                    str(args.threads), lay], args.timeout, args.min_free_gb)
                    if sv["status"] == "ok":
                        sv.update(accuracy(work, model_dir / f"ids-{lay}.npy"))
                    row["serve"][lay] = sv
                if lib == "polymodal":
                    sharing[size] = {str(n): shared_memory(work, model_dir, n, args.threads) for n in (1, 2)}
            print(json.dumps(row)[:400], flush=True)
            rows.append(row)
            exps = {k: growth(rows, k) for k in ("train_s", "train_peak_rss_mb")}
            row["commit"] = commit()  # rows of earlier runs keep theirs (a run may cover only some sizes)
            row["command"] = "benchmarks/xmr_scale.py " + " ".join(sys.argv[1:])
            write_json(args.out, {"commit": commit(), "environment": environment(("numpy", "scipy", "numba")),
                                  "command": "benchmarks/xmr_scale.py " + " ".join(sys.argv[1:]),
                                  "threads": args.threads, "beam_size": 10, "threshold": 0.1,
                                  "datasets": datasets, "rows": rows, "sharing": sharing, "growth_exponent": exps,
                                  "note": "GENERATED data (polymodal datasets synth-xmc); not a real result"})
    plot(rows, {k: growth(rows, k) for k in ("train_s", "train_peak_rss_mb")}, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    run(main)
