"""``fit``: one small training loop for every torch part of polymodal.

The caller gives the model, a training data loader, a ``step(model, batch) -> loss`` function and optionally an
``evaluate(model) -> dict`` run after each epoch. Optimiser: AdamW; learning rate: linear warm-up over
``warmup`` of the steps, then cosine decay to ``min_lr_ratio * lr``. Early stopping watches ``monitor`` in the
evaluation dict (``mode`` min or max) with ``patience`` epochs and restores the best weights at the end.
Runs on CUDA when present (``device="auto"``), else CPU. Metrics per epoch go to ``out/metrics.json``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError


@dataclass
class TrainConfig:
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05  # fraction of all steps
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    monitor: str | None = None  # key of the evaluation dict; None = no early stopping
    mode: str = "min"
    patience: int = 3
    progress: bool = True

    def __post_init__(self):
        if self.epochs < 1 or self.lr <= 0 or not 0 <= self.warmup < 1 or self.patience < 1:
            raise InputError("need epochs >= 1, lr > 0, 0 <= warmup < 1, patience >= 1")
        if self.mode not in ("min", "max"):
            raise InputError(f"mode must be min or max, got {self.mode!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"device must be auto, cpu or cuda, got {self.device!r}")


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def lr_factor(step: int, total: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total - warmup_steps)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def fit(model: nn.Module, train: Iterable, step: Callable[[nn.Module, object], torch.Tensor], config: TrainConfig,
        evaluate: Callable[[nn.Module], dict] | None = None, out: str | os.PathLike | None = None) -> TrainResult:
    """Train ``model`` in place; returns the per-epoch history. ``train`` is re-iterated every epoch."""
    device = resolve_device(config.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError("the model has no trainable parameters")
    try:
        steps_per_epoch = len(train)  # type: ignore[arg-type]
    except TypeError:
        raise InputError("the training data must have a length (a DataLoader or a list of batches)") from None
    if steps_per_epoch == 0:
        raise InputError("no training batches")
    total = steps_per_epoch * config.epochs
    warmup_steps = max(1, int(config.warmup * total)) if config.warmup > 0 else 0
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, warmup_steps, config.min_lr_ratio))
    res = TrainResult()
    best_state = None
    bad_epochs = 0
    t_start = time.perf_counter()
    sign = 1.0 if config.mode == "min" else -1.0
    for epoch in range(config.epochs):
        model.train()
        total_loss, n_batches = 0.0, 0
        for batch in _progress(train, config.progress, f"epoch {epoch + 1}/{config.epochs}", steps_per_epoch):
            loss = step(model, to_device(batch, device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            sched.step()
            total_loss += float(loss.detach())
            n_batches += 1
        row = {"epoch": epoch + 1, "train_loss": total_loss / n_batches, "lr": opt.param_groups[0]["lr"]}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                row.update(evaluate(model))
        row["seconds"] = round(time.perf_counter() - t_start, 3)
        res.history.append(row)
        if config.monitor is not None:
            if config.monitor not in row:
                raise InputError(f"monitor {config.monitor!r} is not among the metrics {sorted(row)}")
            value = float(row[config.monitor])
            if res.best is None or sign * value < sign * res.best:
                res.best, res.best_epoch, bad_epochs = value, epoch + 1, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
                if bad_epochs >= config.patience:
                    res.stopped_early = epoch + 1 < config.epochs
                    break
        if out is not None:
            _write_metrics(out, config, res)
    if best_state is not None:
        model.load_state_dict(best_state)
    res.seconds = time.perf_counter() - t_start
    if out is not None:
        _write_metrics(out, config, res)
    model.eval()
    return res


def _write_metrics(out, config: TrainConfig, res: TrainResult) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(json.dumps({"config": asdict(config), "history": res.history, "best_epoch": res.best_epoch,
                               "best": res.best, "stopped_early": res.stopped_early}, indent=1) + "\n")
    os.replace(tmp, out / "metrics.json")


def _progress(items, enabled: bool, desc: str, total: int):
    if not enabled:
        return items
    from rich.progress import track

    return track(items, description=desc, total=total, transient=True)
