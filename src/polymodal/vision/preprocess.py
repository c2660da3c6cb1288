"""Images in, float tensors out: decoding, colour-mode handling and resizing, with clear errors.

Documented handling: greyscale (L, I;16, 1-bit) is replicated to three channels; RGBA / LA / palette images with
transparency are composited on white; CMYK and other modes are converted by Pillow to RGB; images of different
sizes are each resized (bilinear, antialiased) to the encoder's square input. A file Pillow cannot decode is an
:class:`InputError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import InputError


def to_rgb_array(image) -> np.ndarray:
    """A PIL image or a uint8 array (H, W), (H, W, 1|3|4) -> uint8 (H, W, 3)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(bg, rgba)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise InputError(f"expected a uint8 image array, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) == 0:
        raise InputError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        return np.round(a[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return a


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 RGB (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return to_rgb_array(im)
    except FileNotFoundError:
        raise InputError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None


def to_tensor(images: Sequence, size: int = 224) -> torch.Tensor:
    """Images (arrays or PIL, any sizes and colour modes) -> float (N, 3, size, size) in [0, 1]."""
    if len(images) == 0:
        raise InputError("no images")
    out = torch.empty(len(images), 3, size, size)
    for i, im in enumerate(images):
        rgb = to_rgb_array(im)
        if not rgb.flags.writeable:  # PIL hands out read-only arrays; torch wants to own writable memory
            rgb = rgb.copy()
        t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(255.0)
        if t.shape[-2:] != (size, size):
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i] = t[0].clamp_(0.0, 1.0)
    return out
