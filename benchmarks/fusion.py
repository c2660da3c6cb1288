"""MIVC side by side: the concatenation (tiled grid) baseline vs mean / max / attention / gated-attention fusion,
on ETH-80 multi-view objects (categorization, attribute inference, templated captions; 5 folds over objects), and
single-image captioning on the Flickr8k images with their human captions.

    .venv/bin/python benchmarks/fusion.py                 # everything -> docs/results/fusion_*.json + PNG
    .venv/bin/python benchmarks/fusion.py --only eth80 --variants pooled --folds 2 --epochs 5   # a quick look

Encoder outputs are cached under --cache (the frozen EfficientNet-Lite0 is the slow part on CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from entry import run
from polymodal.datasets.images import load_eth80, load_flickr8k
from polymodal.fusion.caption import WordPieceVocab
from polymodal.fusion.eth80 import ATTRIBUTES, make_bags, object_folds, object_labels
from polymodal.fusion.grid import tile_grid
from polymodal.fusion.metrics import accuracy, bleu4, cider_d, multilabel_prf
from polymodal.fusion.pipeline import MIVCConfig, MIVCModel, pad_bags
from polymodal.fusion.train import BagSet, predict, train_mivc
from polymodal.timing import latency
from polymodal.training import TrainConfig
from polymodal.vision import EfficientNetLite0
from polymodal.vision.encode import encode_maps
from polymodal.vision.preprocess import load_image, to_tensor
from provenance import commit, write_json

METHODS = ("concat", "mean", "max", "attention", "gated")
SIZES = list(range(2, 9))
ROOT = Path(__file__).resolve().parent.parent


def cached(path: Path, make):
    if path.exists():
        return np.load(path)
    arr = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    os.replace(tmp, path)
    return arr


def mean_std(values) -> dict:
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def metric_keys(row: dict) -> list[str]:
    """The scalar metrics of a fold's row (not the per-size tables or the example caption)."""
    return [k for k in row if not k.startswith("by_size") and k != "example"]


def average_rows(rows: list[dict]) -> dict:
    """One fold's metrics averaged over its seeds (the first seed's example caption)."""
    if len(rows) == 1:
        return rows[0]
    out = {k: statistics.fmean(r[k] for r in rows) for k in metric_keys(rows[0])}
    for k in ("by_size", "by_size_f1"):
        out[k] = {s: statistics.fmean(r[k][s] for r in rows) for s in rows[0][k]}
    out["example"] = rows[0]["example"]
    return out


def eth80_setup(args, encoder):
    eth = load_eth80()
    labels = object_labels(eth)
    n_obj = len(labels.category)
    train_owner, train_bags = make_bags(eth, np.arange(n_obj), SIZES * args.train_bags, seed=1)
    test_owner, test_bags = make_bags(eth, np.arange(n_obj), SIZES * args.test_bags, seed=2)
    views = cached(args.cache / "eth80_views_224.npy",
                   lambda: encode_maps(encoder, list(eth.images), 224, desc="views"))

    def grids(bags):
        return [tile_grid([eth.images[v] for v in b if v >= 0], tile=128) for b in bags]

    key = f"{args.train_bags}x{args.test_bags}_square"
    grid_train = cached(args.cache / f"eth80_grids_train_{key}_224.npy",
                        lambda: encode_maps(encoder, grids(train_bags), 224, desc="grids (train)"))
    grid_test = cached(args.cache / f"eth80_grids_test_{key}_224.npy",
                       lambda: encode_maps(encoder, grids(test_bags), 224, desc="grids (test)"))
    return eth, labels, (train_owner, train_bags, grid_train), (test_owner, test_bags, grid_test), views


def eth80_run(args, encoder) -> dict:
    eth, labels, train, test, views = eth80_setup(args, encoder)
    vocab = WordPieceVocab.train(labels.captions, vocab_size=200, min_frequency=1)
    caps = vocab.encode(labels.captions, 24)
    all_folds = object_folds(labels.category, k=5, seed=0)
    results: dict = {"folds": {"pooled": args.folds, "qg": args.qg_folds}, "epochs": args.epochs,
                     "train_bags_per_object": len(SIZES) * args.train_bags,
                     "test_bags_per_object": len(SIZES) * args.test_bags, "attributes": list(ATTRIBUTES),
                     "attribute_positives": labels.attributes.sum(0).tolist(), "runs": {}}
    pooled_views = views.astype(np.float32).mean(axis=(2, 3))
    pooled_grids = [g.astype(np.float32).mean(axis=(2, 3)) for g in (train[2], test[2])]
    for variant in args.variants:
        qg = variant == "qg"
        folds = all_folds[: args.qg_folds if qg else args.folds]
        for method in args.methods:
            rows, per_seed = [], []
            for f, test_objs in enumerate(folds):
                seed_rows = []
                for s in range(args.seeds):  # seed f for the first (as the single-seed runs before --seeds)
                    row, model = eth80_fold(args, eth, labels, vocab, caps, train, test,
                                            views if qg else pooled_views, (train[2], test[2]) if qg else pooled_grids,
                                            test_objs, method, qg, seed=f + 1000 * s)
                    seed_rows.append(row)
                    if f == 0 and s == 0 and not qg and method == "attention":
                        attention_png(model, eth, labels, test, pooled_views, test_objs,
                                      args.results / "fusion_attention_eth80.png")
                    print(f"{variant:6s} {method:9s} fold {f} seed {s}: acc {row['accuracy']:.3f} "
                          f"attr F1 {row['attr_f1']:.3f} BLEU-4 {row['bleu4']:.1f} "
                          f"CIDEr {row['cider']:.2f} ({row['train_seconds']:.0f} s)", flush=True)
                rows.append(average_rows(seed_rows))
                per_seed.append(seed_rows)
            keys = metric_keys(rows[0])
            summary = {k: mean_std([r[k] for r in rows]) for k in keys}
            if args.seeds > 1:  # the seed-to-seed spread: within-fold std over seeds, pooled over folds
                summary["seeds"] = args.seeds
                summary["per_seed"] = {k: [[r[k] for r in fold] for fold in per_seed] for k in keys}
                summary["seed_spread"] = {k: statistics.fmean(statistics.variance(v) for v in
                                                              summary["per_seed"][k]) ** 0.5 for k in keys}
            summary["accuracy_by_size"] = {s: mean_std([r["by_size"][s] for r in rows]) for s in SIZES}
            summary["attr_f1_by_size"] = {s: mean_std([r["by_size_f1"][s] for r in rows]) for s in SIZES}
            summary["example"] = rows[0]["example"]
            summary["commit"] = commit()
            results["runs"][f"{variant}/{method}"] = summary
    return results


def eth80_fold(args, eth, labels, vocab, caps, train, test, views, grids, test_objs, method, qg, seed):
    """Train on the bags of the objects outside ``test_objs``, test on theirs -> (metrics row, trained model)."""
    train_owner, train_bags, _ = train
    test_owner, test_bags, _ = test
    tr = ~np.isin(train_owner, test_objs)  # training bags of training objects
    te = np.isin(test_owner, test_objs)

    def bagset(owner, bags, feats_grid, sel):
        if method == "concat":  # one tiled grid per bag, a bag of one
            feats, b = feats_grid[sel], np.arange(sel.sum())[:, None]
        else:
            feats, b = views, bags[sel]
        return BagSet.of_items(feats, b, owner[sel], labels.category, labels.attributes, caps)

    train_set = bagset(train_owner, train_bags, grids[0], tr)
    test_set = bagset(test_owner, test_bags, grids[1], te)
    cfg = MIVCConfig(fusion="mean" if method == "concat" else method, query_generator=qg, qg_dim=args.dim,
                     d_model=args.dim, categories=list(eth.category_names), attributes=list(ATTRIBUTES),
                     caption=True, max_len=24)
    torch.manual_seed(seed)
    model = MIVCModel(cfg, len(vocab))
    t0 = time.perf_counter()
    train_mivc(model, train_set, TrainConfig(epochs=args.epochs, lr=args.lr, seed=seed, progress=False,
                                             warmup=0.1), batch_size=32)
    seconds = time.perf_counter() - t0
    pred = predict(model, test_set, beam_size=1)
    own = test_owner[te]
    sizes = (test_bags[te] >= 0).sum(1)
    y_attr = labels.attributes[own]
    p_attr = pred["attributes"] >= 0.5
    hyps = [vocab.decode(p) for p in pred["pieces"]]
    refs = [[labels.captions[o]] for o in own]
    prf = multilabel_prf(y_attr, p_attr)
    return {"accuracy": accuracy(labels.category[own], pred["category"]), "attr_precision": prf["precision"],
            "attr_recall": prf["recall"], "attr_f1": prf["f1"], "attr_macro_f1": prf["macro_f1"],
            "bleu4": bleu4(hyps, refs), "cider": cider_d(hyps, refs), "train_seconds": seconds,
            "by_size": {int(s): accuracy(labels.category[own][sizes == s], pred["category"][sizes == s])
                        for s in SIZES},
            "by_size_f1": {int(s): multilabel_prf(y_attr[sizes == s], p_attr[sizes == s])["f1"] for s in SIZES},
            "example": {"reference": refs[0][0], "generated": hyps[0]}}, model


def throughput(args, encoder) -> dict:
    """Per item (a bag of 8 views at 224 px): encoder alone vs fusion alone vs the whole pipeline."""
    eth = load_eth80()
    rng = np.random.default_rng(0)
    bag = [eth.images[i] for i in rng.choice(len(eth.images), 8, replace=False)]
    x = to_tensor(bag, 224)
    out = {"bag_size": 8, "image_size": 224, "threads": torch.get_num_threads()}
    with torch.inference_mode():
        maps = encoder.features(x)
        t_enc = latency(encoder.features, [(x,)], n=args.reps, warmup=2)
        out["encoder_ms"] = t_enc["p50_ms"]
        # the concatenation baseline: tile the 8 views, one encoder pass on the grid, then the same model
        base = MIVCModel(MIVCConfig(fusion="mean", categories=["a", "b"])).eval()

        def concat_item():
            grid = to_tensor([tile_grid(bag, tile=128)], 224)
            return base(encoder.features(grid)[None], torch.ones(1, 1, dtype=torch.bool))

        t_cat = latency(concat_item, [()], n=args.reps * 4, warmup=2)
        out["concat_ms"] = t_cat["p50_ms"]
        out["concat_items_per_s"] = 1000.0 / t_cat["p50_ms"]
        print(f"throughput concat: {t_cat['p50_ms']:.1f} ms per item (tile + encode + model)", flush=True)
        for variant in args.variants:
            for method in ("mean", "max", "attention", "gated"):
                cfg = MIVCConfig(fusion=method, query_generator=variant == "qg", categories=["a", "b"])
                model = MIVCModel(cfg).eval()
                mask = torch.ones(1, 8, dtype=torch.bool)
                per_image = model.per_image(maps[None].float(), mask)
                t_fuse = latency(model.fusion, [(per_image, mask)], n=args.reps * 20, warmup=5)
                t_head = latency(model, [(maps[None].float(), mask)], n=args.reps * 5, warmup=2)
                out[f"{variant}/{method}"] = {
                    "fusion_ms": t_fuse["p50_ms"], "after_encoder_ms": t_head["p50_ms"],
                    "fusion_share_of_encoder": t_fuse["p50_ms"] / t_enc["p50_ms"],
                    "items_per_s": 1000.0 / (t_enc["p50_ms"] + t_head["p50_ms"])}
                print(f"throughput {variant}/{method}: encoder {t_enc['p50_ms']:.1f} ms, fusion "
                      f"{t_fuse['p50_ms']:.3f} ms ({100 * t_fuse['p50_ms'] / t_enc['p50_ms']:.2f} %), after "
                      f"encoder {t_head['p50_ms']:.2f} ms", flush=True)
    return out


def attention_png(model, eth, labels, test, pooled, test_objs, path: Path) -> None:
    """The weights the fold-0 attention model (pooled variant) gives to the 8 views of held-out objects."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    te = np.flatnonzero(np.isin(test[0], test_objs) & ((test[1] >= 0).sum(1) == 8))
    picks = te[:: max(1, len(te) // 4)][:4]
    fig, axes = plt.subplots(len(picks), 8, figsize=(16, 2.3 * len(picks)))
    for row, b in enumerate(picks):
        x, mask = pad_bags(pooled, test[1][b : b + 1])
        with torch.no_grad():
            out = model(x, mask)
        w = out["weights"][0].numpy()
        cat = eth.category_names[int(out["category"].argmax())]
        for j, v in enumerate(test[1][b]):
            ax = axes[row, j]
            ax.imshow(eth.images[v])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"a = {w[j]:.2f}", fontsize=10, color="crimson" if w[j] == w.max() else "black")
            if j == 0:
                ax.set_ylabel(f"{eth.category_names[labels.category[test[0][b]]]}\n-> {cat}", fontsize=10)
    fig.suptitle("MIVC attention weights over 8 views of held-out ETH-80 objects (fold 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def flickr_run(args, encoder) -> dict:
    fl = load_flickr8k()
    names = {s: fl.available(s) for s in ("train", "dev", "test")}
    allnames = names["train"] + names["dev"] + names["test"]
    maps = cached(args.cache / "flickr8k_224.npy",
                  lambda: encode_maps(encoder, [load_image(fl.image_path(n)) for n in allnames], 224, desc="flickr8k"))
    index = {n: i for i, n in enumerate(allnames)}
    train_caps = [(index[n], c) for n in names["train"] for c in fl.captions[n]]
    vocab = WordPieceVocab.train([c for _, c in train_caps], vocab_size=args.flickr_vocab)
    tr = BagSet(maps, np.array([[i] for i, _ in train_caps]), captions=vocab.encode([c for _, c in train_caps], 32))
    test_idx = np.array([[index[n]] for n in names["test"]])
    refs = [fl.captions[n] for n in names["test"]]
    res: dict = {"train_images": len(names["train"]), "test_images": len(names["test"]), "vocab": len(vocab),
                 "runs": {}}
    # floor: the caption of the nearest training image (cosine of pooled embeddings), its first caption
    pooled = maps.astype(np.float32).mean(axis=(2, 3))
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    tr_rows = np.array([index[n] for n in names["train"]])
    nn_rows = tr_rows[(pooled[test_idx[:, 0]] @ pooled[tr_rows].T).argmax(1)]
    knn = [fl.captions[allnames[r]][0] for r in nn_rows]
    res["nearest_neighbour"] = {"bleu4": bleu4(knn, refs), "cider": cider_d(knn, refs)}
    for seed in range(args.flickr_seeds):
        cfg = MIVCConfig(fusion="mean", query_generator=True, caption=True, max_len=32)
        torch.manual_seed(seed)
        model = MIVCModel(cfg, len(vocab))
        t0 = time.perf_counter()
        train_mivc(model, tr, TrainConfig(epochs=args.flickr_epochs, lr=args.lr, seed=seed, warmup=0.05),
                   batch_size=64)
        seconds = time.perf_counter() - t0
        test = BagSet(maps, test_idx)
        for beam in (1, 3):
            hyps = [vocab.decode(p) for p in predict(model, test, beam_size=beam)["pieces"]]
            key = "greedy" if beam == 1 else f"beam{beam}"
            res["runs"].setdefault(key, []).append({"seed": seed, "bleu4": bleu4(hyps, refs),
                                                    "cider": cider_d(hyps, refs), "train_seconds": seconds,
                                                    "examples": [{"image": names["test"][i], "generated": hyps[i],
                                                                  "reference": refs[i][0]} for i in range(5)]})
            r = res["runs"][key][-1]
            print(f"flickr8k seed {seed} {key}: BLEU-4 {r['bleu4']:.1f} CIDEr {r['cider']:.3f} ({seconds:.0f} s)")
    for key, rows in list(res["runs"].items()):
        res[key] = {m: mean_std([r[m] for r in rows]) for m in ("bleu4", "cider")}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("eth80", "throughput", "flickr8k"), action="append",
                    help="eth80 also draws the attention PNG (from the pooled attention model of fold 0)")
    ap.add_argument("--variants", nargs="+", default=["pooled", "qg"], choices=["pooled", "qg"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--qg-folds", type=int, default=3, help="folds for the query-generator variant (slow on CPU)")
    ap.add_argument("--seeds", type=int, default=1,
                    help="training seeds per fold (ETH-80); > 1 also reports the seed-to-seed spread")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--dim", type=int, default=128, help="query-generator and decoder width (ETH-80)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--train-bags", type=int, default=3, help="bags per object and size for training")
    ap.add_argument("--test-bags", type=int, default=4, help="bags per object and size for testing")
    ap.add_argument("--flickr-epochs", type=int, default=15)
    ap.add_argument("--flickr-seeds", type=int, default=3)
    ap.add_argument("--flickr-vocab", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "fusion-cache")
    ap.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args(argv)
    only = set(args.only or ("eth80", "throughput", "flickr8k"))
    encoder = EfficientNetLite0.pretrained()
    args.results.mkdir(parents=True, exist_ok=True)
    if "throughput" in only:
        write_json(args.results / "fusion_throughput.json", throughput(args, encoder))
    if "eth80" in only:
        path = args.results / "fusion_eth80.json"
        new = eth80_run(args, encoder)
        # a run of some variants replaces those variants' rows and keeps the others (each row says its commit)
        if path.exists():
            old = json.loads(path.read_text())
            old["runs"].update(new["runs"])
            new["runs"] = old["runs"]
            new["folds"] = {**old.get("folds", {}), **{v: new["folds"][v] for v in args.variants}}
        write_json(path, new)
    if "flickr8k" in only:
        write_json(args.results / "fusion_flickr8k.json", flickr_run(args, encoder))
    return 0


if __name__ == "__main__":
    run(main)
