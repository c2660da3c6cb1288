"""A torch module as a folder: ``config.json`` (what builds it) + ``model.safetensors`` (its state), written
atomically and read without pickle."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .. import __version__
from ..errors import ModelError
from ..modelio import atomic_dir, read_config, write_config

WEIGHTS = "model.safetensors"


def save_module(folder: str | os.PathLike, module: nn.Module, config: dict, fmt: str, version: int = 1) -> Path:
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    with atomic_dir(folder) as tmp:
        write_config(tmp, {"format": fmt, "format_version": version, "polymodal_version": __version__,
                           "config": config})
        save_file(state, str(tmp / WEIGHTS))
    return Path(folder)


def load_module(folder: str | os.PathLike, fmt: str, build: Callable[[dict], nn.Module], version: int = 1,
                device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the module from its config and load its weights with a strict key match."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg = read_config(folder, fmt, version)
    path = Path(folder) / WEIGHTS
    if not path.is_file():
        raise ModelError(f"{folder}: {WEIGHTS} is missing")
    try:
        module = build(cfg["config"])
        state = load_file(str(path), device=str(device))
        module.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ModelError(f"{folder}: invalid model: {str(exc).splitlines()[0]}") from None
    return module.to(device).eval(), cfg["config"]
