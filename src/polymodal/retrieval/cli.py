"""``polymodal retrieval train | search | evaluate``: query -> item retrieval with XR-Linear."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError

app = typer.Typer(no_args_is_help=True, help="Query -> item retrieval (XR-Linear, the product-search paper).")
DATASETS = ("aol-clicks", "amazon-toys-category")


def _pairs(dataset: str | None, input: Path | None, part: str, no_label_names: bool = False,
           n_labels: int | None = None):
    """(texts, label lists, label names) from a text2text file or a real dataset's train/test part."""
    from ..xmr.text2text import read_text2text, read_training_set

    if (dataset is None) == (input is None):
        raise InputError("give exactly one of --dataset and --input")
    if input is not None:
        if part == "train":
            return read_training_set(input, no_label_names=no_label_names)
        return (*read_text2text(input, n_labels), None)
    if dataset not in DATASETS:
        raise InputError(f"--dataset must be one of {DATASETS}, got {dataset!r}")
    from ..datasets import build_text_dataset

    ds = build_text_dataset(dataset)
    if part == "train":
        return ds.train_texts, ds.train_labels, ds.labels
    return ds.test_texts, ds.test_labels, ds.labels


@app.command("train")
def train(
    model: Annotated[Path, typer.Option("--model", "-m", help="model folder to write")],
    dataset: Annotated[str | None, typer.Option(help="aol-clicks | amazon-toys-category")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="text2text training file "
                                                "(labels.txt beside it)")] = None,
    features: Annotated[list[str] | None, typer.Option(
        help="word | char | tfidf | all | default; give it twice or more for an ensemble (one model per set)")] = None,
    weights: Annotated[list[float] | None, typer.Option(
        "--weight", help="ensemble weight of each --features model, in order (default 1 each)")] = None,
    item_text: Annotated[bool, typer.Option(
        help="add one (words of the item's name -> item) training pair per item")] = False,
    threshold: Annotated[float, typer.Option(help="weight-pruning threshold")] = 0.1,
    beam_size: int = 10,
    cp: Annotated[float, typer.Option("--Cp", help="cost of positive examples")] = 1.0,
    cn: Annotated[float, typer.Option("--Cn", help="cost of negative examples")] = 1.0,
    negatives: Annotated[str, typer.Option(help="tfn | man | tfn+man")] = "tfn",
    nr_splits: int = 16,
    max_leaf_size: int = 100,
    seed: int = 0,
    threads: Annotated[int, typer.Option(help="0 = all cores")] = 0,
    no_label_names: Annotated[bool, typer.Option(
        help="train without labels.txt (item names are the ids)")] = False,
    quiet: bool = False,
) -> None:
    """Train XR-Linear retrieval (features + label tree + rankers) into MODEL folder."""
    from ..xmr.model import XRLinearConfig
    from ..xmr.text_model import XRTextModel
    from .ensemble import XREnsemble
    from .features import feature_config
    from .item_text import with_item_text

    features = features or ["all"]
    vecs = [feature_config(f) for f in features]
    if weights is not None and len(weights) != len(features):
        raise InputError(f"{len(weights)} --weight values for {len(features)} --features")
    cfg = XRLinearConfig(threshold=threshold, beam_size=beam_size, Cp=cp, Cn=cn, negatives=negatives,
                         nr_splits=nr_splits, max_leaf_size=max_leaf_size, seed=seed, threads=threads)
    texts, ys, names = _pairs(dataset, input, "train", no_label_names)
    if item_text:
        if names is None:
            raise InputError("--item-text needs item names (labels.txt beside --input)")
        texts, ys = with_item_text(texts, ys, names)
    members = [XRTextModel(cfg, v) for v in vecs]
    m = members[0] if len(members) == 1 else XREnsemble(members, weights)
    t0 = time.perf_counter()
    m.fit(texts, ys, names, progress=not quiet)
    m.save(model)
    nnz = sum(x.xr.weights_.nnz for x in members)
    typer.echo(f"trained on {len(texts)} pairs, {m.n_labels_} items, features {'+'.join(features)}, "
               f"{nnz} weights in {time.perf_counter() - t0:.1f}s -> {model}", err=True)


@app.command("search")
def search(
    model: Annotated[Path, typer.Option("--model", "-m")],
    queries: Annotated[list[str], typer.Argument(help="one or more queries")],
    k: Annotated[int, typer.Option("-k")] = 10,
    beam_size: int | None = None,
) -> None:
    """One JSON line per query: {"query": ..., "items": [...], "scores": [...]}."""
    from ..checks import MAX_K, check_int
    from .ensemble import load_search_model

    check_int("-k", k, 1, MAX_K)
    m = load_search_model(model)
    for q in queries:
        pairs = m.suggest(q, k, beam_size)
        sys.stdout.write(json.dumps({"query": q, "items": [s for s, _ in pairs],
                                     "scores": [round(v, 6) for _, v in pairs]}) + "\n")


@app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Option("--model", "-m")],
    dataset: Annotated[str | None, typer.Option(help="aol-clicks | amazon-toys-category (its test part)")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="text2text test file")] = None,
    beam_size: int | None = None,
    latency_requests: Annotated[int, typer.Option(help="timed single queries (0 = skip)")] = 10_000,
) -> None:
    """Recall@10/100, P@1, MRR, single-query p50/p99 and model size; the LAST stdout line is one JSON object."""
    from ..modelio import folder_bytes
    from .ensemble import load_search_model
    from .evaluate import recall_metrics, search_latency

    if latency_requests < 0:
        raise InputError("--latency-requests must be >= 0")
    m = load_search_model(model)
    texts, ys, _ = _pairs(dataset, input, "test", n_labels=m.n_labels_)
    if any(c >= m.n_labels_ for ls in ys for c in ls):
        raise InputError(f"test labels exceed the model's {m.n_labels_} items")
    t0 = time.perf_counter()
    ids, _ = m.predict(texts, k=100, beam_size=beam_size)
    res: dict = recall_metrics(ys, ids, m.n_labels_)
    res["batch_ms_per_query"] = round(1e3 * (time.perf_counter() - t0) / len(texts), 4)
    if latency_requests:
        lat = search_latency(m, texts, n=latency_requests, beam_size=beam_size)
        res["p50_ms"], res["p99_ms"] = round(lat["p50_ms"], 4), round(lat["p99_ms"], 4)
    res["model_mb"] = round(folder_bytes(model) / 1e6, 2)
    res["n"] = len(texts)
    for key, v in res.items():
        typer.echo(f"{key:>20}  {v}", err=True)
    print(json.dumps(res))
