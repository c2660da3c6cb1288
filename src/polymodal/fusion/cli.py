"""``polymodal fusion``: train an MIVC model on ETH-80 items and describe a bag of image files with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError

app = typer.Typer(no_args_is_help=True, help="MIVC multi-image fusion (needs the torch extra).")


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError("the fusion commands need the torch extra: pip install 'polymodal[torch]'") from None


@app.command("train-eth80")
def train_eth80(
    out: Annotated[Path, typer.Option("--out", "-o", help="model folder to write")],
    fusion: Annotated[str, typer.Option(help="mean | max | attention | gated")] = "attention",
    query_generator: Annotated[bool, typer.Option("--query-generator/--no-query-generator")] = False,
    epochs: Annotated[int, typer.Option(min=1)] = 15,
    bags_per_size: Annotated[int, typer.Option(min=1, help="training bags per object and bag size 2..8")] = 3,
    hold_out_fold: Annotated[int | None, typer.Option(min=0, max=4, help="train without this fold of 16 "
                                                     "objects and report its metrics")] = None,
    seed: int = 0,
) -> None:
    """Train category + attribute + caption heads on bags of ETH-80 views (encoder frozen)."""
    _need_torch()
    import numpy as np
    import torch

    from ..datasets.images import load_eth80
    from ..training import TrainConfig
    from ..vision import EfficientNetLite0
    from ..vision.encode import encode_maps
    from .caption import WordPieceVocab
    from .eth80 import ATTRIBUTES, make_bags, object_folds, object_labels
    from .metrics import accuracy, multilabel_prf
    from .pipeline import MIVCConfig, MIVCModel, save_mivc
    from .train import BagSet, predict, train_mivc

    eth = load_eth80()
    cfg = MIVCConfig(fusion=fusion, query_generator=query_generator, qg_dim=128, d_model=128,
                     categories=list(eth.category_names), attributes=list(ATTRIBUTES), caption=True, max_len=24)
    labels = object_labels(eth)
    objects = np.arange(len(labels.category))
    test_objs = object_folds(labels.category)[hold_out_fold] if hold_out_fold is not None else np.array([], int)
    train_objs = np.setdiff1d(objects, test_objs)
    maps = encode_maps(EfficientNetLite0.pretrained(), list(eth.images), cfg.image_size, desc="encoding views")
    feats = maps if query_generator else maps.astype(np.float32).mean(axis=(2, 3))
    vocab = WordPieceVocab.train(labels.captions, vocab_size=200, min_frequency=1)
    caps = vocab.encode(labels.captions, cfg.max_len)
    sizes = list(range(2, 9))
    owner, bags = make_bags(eth, train_objs, sizes * bags_per_size, seed=seed + 1)
    data = BagSet.of_items(feats, bags, owner, labels.category, labels.attributes, caps)
    torch.manual_seed(seed)
    model = MIVCModel(cfg, len(vocab))
    train_mivc(model, data, TrainConfig(epochs=epochs, seed=seed, warmup=0.1))
    save_mivc(out, model, vocab)
    report = {"model": str(out), "train_objects": len(train_objs), "train_bags": len(bags)}
    if len(test_objs):
        t_owner, t_bags = make_bags(eth, test_objs, sizes * 4, seed=seed + 2)
        pred = predict(model, BagSet(feats, t_bags))
        prf = multilabel_prf(labels.attributes[t_owner], pred["attributes"] >= 0.5)
        report.update({"test_objects": len(test_objs), "test_bags": len(t_bags),
                       "accuracy": accuracy(labels.category[t_owner], pred["category"]), "attr_f1": prf["f1"]})
    typer.echo(json.dumps(report))


@app.command("predict")
def predict_cmd(
    model: Annotated[Path, typer.Option("--model", "-m", help="a folder written by train-eth80")],
    images: Annotated[list[Path], typer.Argument(help="the image files of ONE item (a bag)")],
    beam_size: Annotated[int, typer.Option(min=1)] = 3,
) -> None:
    """Category, attributes, caption and per-image attention of one bag of images, as JSON."""
    _need_torch()
    from ..vision.preprocess import load_image
    from .pipeline import MIVCPipeline, load_mivc

    bag = [load_image(p) for p in images]
    mivc, vocab = load_mivc(model)
    result = MIVCPipeline(mivc, vocab).predict([bag], beam_size=beam_size)[0]
    result["weights"] = {str(p): round(w, 4) for p, w in zip(images, result["weights"], strict=True)}
    typer.echo(json.dumps(result))
