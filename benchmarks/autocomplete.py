"""Session-aware autocompletion on the real AOL sessions: every label index vs most-popular completion (MPC),
and the libpecos cross-check on the same features and the same label tree.

    .venv/bin/python benchmarks/autocomplete.py                       # all variants, test split
    .venv/bin/python benchmarks/autocomplete.py --variants hybrid:1 --pecos hybrid:1 trie:3

A variant is ``INDEX[:DEPTH][/DECODE][-noprev]`` (INDEX kmeans-pifa | kmeans-text | trie | hybrid; DECODE
constrained | filter; ``-noprev`` drops the previous query from the features). Per variant: training seconds
(features + index + rankers), model MB on disk, MRR@10, success@1/10, rank-weighted BLEU overall / by prefix
length / by label frequency, and end-to-end latency of ``suggest`` (raw strings in, 10 strings out) p50/p99
over 10,000 requests after 500 warm-up, with the model loaded from disk.

``--pecos V ...``: for each variant, the same X, Y and cluster chain go to libpecos (``.venv-peers``, from
``make bench-peers``; ``XLinearModel.train`` with PECOS defaults = ours) and to polymodal; both predict a
1000-label pool with beam 10, keep the labels extending the prefix, and score MRR@10 on the test split.
Writes ``bench-results/autocomplete.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from entry import run

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["kmeans-pifa", "kmeans-text", "trie:3", "trie:5", "trie:8", "hybrid:1", "hybrid:2", "hybrid:3",
           "hybrid:1-noprev", "kmeans-pifa/filter", "kmeans-text/filter", "trie:5/filter", "hybrid:1/filter"]
BUCKETS = ["1", "2", "3", "4-6", "7+"]


def parse(spec: str) -> dict:
    spec, noprev = (spec[: -len("-noprev")], True) if spec.endswith("-noprev") else (spec, False)
    body, _, decode = spec.partition("/")
    index, _, depth = body.partition(":")
    return {"index": index, "trie_depth": int(depth or 1), "decode": decode or "constrained", "use_prev": not noprev}


def dir_mb(path: Path) -> float:
    from polymodal.modelio import folder_bytes

    return folder_bytes(path) / 2**20


def run_variant(spec: str, ds, split: str, work: Path, latency_requests: int) -> dict:
    from polymodal.autocomplete.evaluate import evaluate
    from polymodal.autocomplete.model import SessionAutocomplete

    tr, te = ds.splits["train"], ds.splits[split]
    t0 = time.perf_counter()
    m = SessionAutocomplete(**parse(spec)).fit(tr.prev, tr.prefix, tr.target)
    train_s = time.perf_counter() - t0
    folder = m.save(work / spec.replace("/", "_").replace(":", "_"))
    m = SessionAutocomplete.load(folder)
    res = evaluate(m, te.prev, te.prefix, te.target, latency_requests=latency_requests)
    return {"variant": spec, "train_s": train_s, "model_mb": dir_mb(folder), "depth": m.xr_.tree_.depth, **res}


def pecos_check(spec: str, ds, split: str, work: Path) -> dict:
    """MRR@10 of libpecos and polymodal given the same features, labels and cluster chain (filter decoding)."""
    from polymodal.autocomplete.evaluate import per_request
    from polymodal.autocomplete.model import SessionAutocomplete, normalize_prefix
    from polymodal.xmr.metrics import labels_to_csr
    from polymodal.xmr.model import XRLinear

    py = ROOT / ".venv-peers/bin/python"
    if not py.exists():
        raise SystemExit(f"{py} missing: run make bench-peers")
    tr, te = ds.splits["train"], ds.splits[split]
    cfg = parse(spec)
    cfg["decode"] = "filter"
    m = SessionAutocomplete(**cfg).fit(tr.prev, tr.prefix, tr.target)
    index = {q: i for i, q in enumerate(m.labels_)}
    X = m.vectorizer_.transform(tr.prev, tr.prefix)
    Y = labels_to_csr([[index[t]] for t in tr.target], len(m.labels_))
    prefixes = [normalize_prefix(p) for p in te.prefix]
    Xte = m.vectorizer_.transform([normalize_prefix(p).strip() for p in te.prev], prefixes)
    d = work / f"pecos_{spec.replace('/', '_').replace(':', '_')}"
    d.mkdir(parents=True, exist_ok=True)
    sp.save_npz(d / "X.npz", X)
    sp.save_npz(d / "Y.npz", Y)
    sp.save_npz(d / "Xte.npz", Xte)
    chain = m.xr_.tree_.cluster_chain()
    for t, c in enumerate(chain):
        sp.save_npz(d / f"C{t}.npz", sp.csr_matrix(c))
    # polymodal on exactly these matrices and this tree
    t0 = time.perf_counter()
    ours = XRLinear(m.xr_.config).fit(X, Y, tree=m.xr_.tree_)
    ours_s = time.perf_counter() - t0
    ids_ours, _ = ours.predict(Xte, k=1000, beam_size=10)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    r = subprocess.run([str(py), str(ROOT / "benchmarks/autocomplete_pecos_worker.py"), str(d), str(len(chain))],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"libpecos worker failed:\n{r.stderr[-3000:]}")
    info = json.loads(r.stdout.strip().splitlines()[-1])
    ids_pecos = np.load(d / "ids.npy")

    def decode(ids):
        out = []
        for row, p in zip(ids, prefixes):
            out.append([m.labels_[i] for i in row if i >= 0 and m.labels_[i].startswith(p)][:10])
        return out

    a = per_request(decode(ids_ours), te.target)["rr"].mean()
    b = per_request(decode(ids_pecos), te.target)["rr"].mean()
    return {"variant": spec, "MRR@10_polymodal": float(a), "MRR@10_libpecos": float(b),
            "relative_diff": float((a - b) / b), "train_s_polymodal": ours_s, "train_s_libpecos": info["train_s"]}


def print_table(rows: list[dict]) -> None:
    mpc = rows[0]["mpc"]
    print(f"\n{'variant':<18}{'MRR@10':>8}{'xMPC':>7}{'succ@1':>8}{'succ@10':>8}{'BLEU-rw':>8}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'train s':>8}{'MB':>7}   MRR@10 by prefix length " + "/".join(BUCKETS))
    for r in rows:
        x = r["xr"]
        by = " ".join(f"{x['by_prefix_length'][b]['MRR@10']:.4f}" for b in BUCKETS)
        print(f"{r['variant']:<18}{x['MRR@10']:8.4f}{x['MRR@10'] / mpc['MRR@10']:7.3f}{x['success@1']:8.4f}"
              f"{x['success@10']:8.4f}{x['bleu_rw']:8.4f}{r['latency']['p50_ms']:8.3f}{r['latency']['p99_ms']:8.3f}"
              f"{r['train_s']:8.1f}{r['model_mb']:7.1f}   {by}")
    by = " ".join(f"{mpc['by_prefix_length'][b]['MRR@10']:.4f}" for b in BUCKETS)
    print(f"{'MPC':<18}{mpc['MRR@10']:8.4f}{1:7.3f}{mpc['success@1']:8.4f}{mpc['success@10']:8.4f}"
          f"{mpc['bleu_rw']:8.4f}{'':>8}{'':>8}{'':>8}{'':>7}   {by}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="*", default=DEFAULT)
    ap.add_argument("--pecos", nargs="*", default=[])
    ap.add_argument("--split", default="test", choices=["validation", "test"])
    ap.add_argument("--latency-requests", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results/autocomplete.json")
    args = ap.parse_args()
    from polymodal.datasets.aol_sessions import build_sessions

    ds = build_sessions(seed=0)
    print(json.dumps(ds.meta), flush=True)
    work = Path(tempfile.mkdtemp(prefix="polymodal-ac-"))
    rows, checks = [], []
    try:
        for spec in args.variants:
            rows.append(run_variant(spec, ds, args.split, work, args.latency_requests))
            x = rows[-1]["xr"]
            print(f"{spec}: MRR@10 {x['MRR@10']:.4f} (MPC {rows[-1]['mpc']['MRR@10']:.4f}) "
                  f"p50 {rows[-1]['latency']['p50_ms']:.3f} ms train {rows[-1]['train_s']:.1f}s", flush=True)
        for spec in args.pecos:
            checks.append(pecos_check(spec, ds, args.split, work))
            print(json.dumps(checks[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if rows:
        print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"data": ds.meta, "split": args.split, "variants": rows, "libpecos": checks},
                              indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
