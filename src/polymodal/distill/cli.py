"""``polymodal distill``: fine-tune the all-MiniLM-L6-v2 teacher on the text task (Amazon UK toys: title -> top-level
category), distil it into a student with fewer heads or layers by any of the six methods (AMAD included), score a
model on the test split, and classify titles.

Model folders hold ``config.json`` (encoder shape, class names, pooling, how it was made) and ``model.safetensors``,
written atomically. With the defaults, ``teacher`` and ``student`` make the teacher and the students that
``benchmarks/distill.py`` measures (``polymodal.distill.recipes``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError

app = typer.Typer(no_args_is_help=True,
                  help="AMAD attention-map distillation on the text task (needs the torch extra).")

FORMAT = "polymodal-distill-classifier"


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError("the distill commands need the torch extra: pip install 'polymodal[torch]'") from None


def _build(cfg: dict):
    from .trainer import Classifier
    from .transformer import Encoder, EncoderConfig

    return Classifier(Encoder(EncoderConfig(**cfg["encoder"])), len(cfg["classes"]), pool=cfg["pool"])


def _load(folder: Path):
    from ..training import load_module

    if not (folder / "config.json").is_file():
        raise InputError(f"{folder}: no model here (expected a folder written by `polymodal distill teacher` or "
                         "`polymodal distill student`)")
    return load_module(folder, FORMAT, _build)


def _save(folder: Path, model, classes: list[str], max_len: int, info: dict) -> None:
    from ..training import save_module

    save_module(folder, model, {"encoder": model.encoder.config.to_dict(), "classes": classes, "pool": model.pool,
                                "max_len": max_len, "info": info}, FORMAT)


def _splits(max_len: int, batch_size: int, limit: int):
    """The text task's fixed training batches and test batches (``limit``: the first batches only, smoke runs)."""
    from .recipes import text_data
    from .text import fixed_batches

    data = text_data(max_len)
    train = fixed_batches(data.train_ids, data.train_labels, batch_size, seed=0)
    test = fixed_batches(data.test_ids, data.test_labels, 256, seed=0)
    if limit:
        train, test = train[:limit], test[:limit]
    return train, test, data.classes


def _start(threads: int) -> None:
    """Every training or scoring command: torch must be there; ``threads`` > 0 sets torch's thread count."""
    _need_torch()
    import torch

    if threads:
        torch.set_num_threads(threads)


Limit = Annotated[int, typer.Option(min=0, help="smoke runs: train and test on the first N batches only (0: all)")]
Threads = Annotated[int, typer.Option(min=0, help="torch threads (0: torch's default)")]
Epochs = Annotated[int, typer.Option(min=1)]
LearningRate = Annotated[float, typer.Option(min=0.0)]
BatchSize = Annotated[int, typer.Option(min=1)]
Progress = Annotated[bool, typer.Option(help="show progress bars")]


@app.command("teacher")
def teacher_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="model folder to write")],
    epochs: Epochs = 4,
    lr: LearningRate = 1e-4,
    max_len: Annotated[int, typer.Option(min=2, help="word pieces per title, [CLS] and [SEP] included")] = 32,
    batch_size: BatchSize = 64,
    limit: Limit = 0,
    threads: Threads = 0,
    progress: Progress = True,
) -> None:
    """Fine-tune all-MiniLM-L6-v2 (6 layers x 12 heads) + a linear head on the text task; prints test accuracy."""
    _start(threads)
    from ..training import seed_everything
    from .recipes import finetune_teacher
    from .text import accuracy
    from .trainer import Classifier
    from .transformer import Encoder

    train, test, classes = _splits(max_len, batch_size, limit)
    seed_everything(0)
    model = Classifier(Encoder.from_minilm(), len(classes))
    res = finetune_teacher(model, train, epochs, lr, progress)  # no re-seed: as the benchmark's text teacher
    info = {"role": "teacher", "accuracy": accuracy(model, test), "epochs": epochs, "lr": lr,
            "train_seconds": round(res.seconds, 1), "limit": limit}
    _save(out, model, classes, max_len, info)
    typer.echo(json.dumps({"model": str(out), **info}))


@app.command("student")
def student_cmd(
    teacher: Annotated[Path, typer.Option("--teacher", "-t", help="a folder written by `polymodal distill teacher`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="model folder to write")],
    method: Annotated[str, typer.Option(help="labels | kd | one-to-one | relations | amad-mse | amad-kl")] = "amad-kl",
    layers: Annotated[int, typer.Option(min=1, help="student layers (at most the teacher's)")] = 6,
    heads: Annotated[int, typer.Option(min=1, help="student attention heads")] = 4,
    head_dim: Annotated[int, typer.Option(min=1, help="width of each head (the teacher's is 32)")] = 32,
    epochs: Epochs = 6,
    lr: LearningRate = 5e-4,
    tau: Annotated[float, typer.Option(min=0.0, help="AMAD temperature of the head-alignment softmax")] = 0.1,
    kd_temperature: Annotated[float, typer.Option(min=0.0, help="output distillation temperature")] = 2.0,
    attention_weight: Annotated[float, typer.Option(min=0.0, help="weight of the attention loss")] = 1.0,
    seed: int = 0,
    batch_size: BatchSize = 64,
    limit: Limit = 0,
    threads: Threads = 0,
    progress: Progress = True,
) -> None:
    """Distil the teacher into a student with fewer heads or layers; prints both test accuracies (JSON)."""
    _start(threads)
    from .losses import layer_map
    from .recipes import METHODS, distil_student, student_encoder
    from .text import accuracy
    from .trainer import Classifier, cache_teacher

    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if tau <= 0 or kd_temperature <= 0:
        raise InputError("--tau and --kd-temperature must be > 0")
    t_model, t_cfg = _load(teacher)
    layer_map(t_model.encoder.config.layers, layers)  # a student deeper than its teacher fails here, before loading
    if heads * head_dim > t_model.encoder.config.hidden:
        raise InputError(f"the student ({heads} x {head_dim} = {heads * head_dim} wide) must not be wider than the "
                         f"teacher ({t_model.encoder.config.hidden}): its embeddings start from the teacher's "
                         "principal subspace")
    train, test, classes = _splits(t_cfg["max_len"], batch_size, limit)
    if classes != t_cfg["classes"]:
        raise InputError(f"{teacher}: the teacher's classes are not the text task's")
    cached = cache_teacher(t_model, train)
    student, res = distil_student(lambda: Classifier(student_encoder(layers, heads, head_dim), len(classes)),
                                  t_model, cached, method, seed, epochs, lr, progress, tau=tau,
                                  kd_temperature=kd_temperature, attention_weight=attention_weight)
    info = {"role": "student", "method": method, "accuracy": accuracy(student, test),
            "teacher_accuracy": accuracy(t_model, test), "layers": layers, "heads": heads, "head_dim": head_dim,
            "params": sum(p.numel() for p in student.parameters()), "epochs": epochs, "lr": lr, "tau": tau,
            "kd_temperature": kd_temperature, "attention_weight": attention_weight, "seed": seed,
            "train_seconds": round(res.seconds, 1), "teacher": str(teacher), "limit": limit}
    _save(out, student, classes, t_cfg["max_len"], info)
    typer.echo(json.dumps({"model": str(out), **info}))


@app.command("evaluate")
def evaluate_cmd(
    model: Annotated[Path, typer.Option("--model", "-m", help="a teacher or student folder")],
    limit: Limit = 0,
    threads: Threads = 0,
) -> None:
    """Test accuracy on the text task's test split (JSON)."""
    _start(threads)
    from .text import accuracy

    m, cfg = _load(model)
    _, test, classes = _splits(cfg["max_len"], 64, limit)
    if classes != cfg["classes"]:
        raise InputError(f"{model}: the model's classes are not the text task's")
    typer.echo(json.dumps({"model": str(model), "accuracy": accuracy(m, test),
                           "test": sum(len(b["labels"]) for b in test)}))


@app.command("predict")
def predict_cmd(
    model: Annotated[Path, typer.Option("--model", "-m", help="a teacher or student folder")],
    texts: Annotated[list[str] | None, typer.Argument(help="titles to classify; none: one per line on stdin")] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="categories per title")] = 3,
) -> None:
    """Top-k categories per title, one JSON line each."""
    _need_torch()
    from .recipes import predict_proba
    from .text import encode_texts, pad_batch
    from .transformer import minilm_tokenizer

    m, cfg = _load(model)
    lines = list(texts) if texts else [line.rstrip("\n") for line in sys.stdin]
    lines = [t for t in lines if t.strip()]
    if not lines:
        raise InputError("no titles given (as arguments or on stdin)")
    ids = encode_texts(lines, minilm_tokenizer(), cfg["max_len"])
    probs = predict_proba(m, [pad_batch(ids[i: i + 64], [0] * len(ids[i: i + 64])) for i in range(0, len(ids), 64)])
    top = probs.topk(min(k, probs.shape[1]), dim=1)
    for text, p, idx in zip(lines, top.values.tolist(), top.indices.tolist(), strict=True):
        typer.echo(json.dumps({"text": text, "categories": [cfg["classes"][i] for i in idx], "scores": p}))
