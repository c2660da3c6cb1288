"""Batch encoding of many images into cached feature maps (the frozen-encoder step of every vision task)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def encode_maps(encoder, images: Sequence, size: int = 224, batch: int = 32, progress: bool = True,
                desc: str = "encoding images") -> np.ndarray:
    """Images (arrays or PIL, any size / mode) -> float16 feature maps (n, C, H', W'), ``batch`` at a time."""
    from .preprocess import to_tensor

    steps = range(0, len(images), batch)
    if progress:
        from rich.progress import track

        steps = track(steps, description=desc, transient=True)
    out = None
    with torch.inference_mode():
        for i in steps:
            maps = encoder.features(to_tensor(images[i : i + batch], size)).float().numpy().astype(np.float16)
            if out is None:
                out = np.empty((len(images), *maps.shape[1:]), dtype=np.float16)
            out[i : i + len(maps)] = maps
    if out is None:
        from ..errors import InputError

        raise InputError("no images to encode")
    return out
