"""A PNG contact sheet of image rows (samples, masks, reconstructions), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def contact_sheet(rows: list[torch.Tensor], path: str | os.PathLike, titles: list[str] | None = None) -> Path:
    """Rows of images in [-1, 1] (N, C, H, W) (masks: integer {0,1}, 1 channel) -> one PNG (grey rows shown as
    RGB); an optional title left of each row."""
    from PIL import Image, ImageDraw

    from ..errors import InputError

    path = Path(path)

    pad = 2
    tiles = []
    rows = [r.detach().cpu() for r in rows if len(r)]
    if not rows or any(r.dim() != 4 or r.shape[1] not in (1, 3) for r in rows):
        raise InputError("contact sheet rows must be non-empty (N, 1 or 3, H, W) tensors")
    if len({tuple(r.shape[-2:]) for r in rows}) > 1:
        raise InputError("contact sheet rows must share one image size")
    for r in rows:
        if not r.is_floating_point():  # {0,1} masks
            r = r.float() * 2 - 1
        r = ((r.clamp(-1, 1) + 1) * 127.5).round().byte()
        if r.shape[1] == 1:
            r = r.expand(-1, 3, -1, -1)
        tiles.append(r.permute(0, 2, 3, 1).numpy())
    h, w = tiles[0].shape[1:3]
    label_w = 90 if titles else 0
    cols = max(len(t) for t in tiles)
    canvas = np.full((len(tiles) * (h + pad) + pad, label_w + cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        for j, im in enumerate(t):
            y, x = pad + i * (h + pad), label_w + pad + j * (w + pad)
            canvas[y: y + h, x: x + w] = im
    img = Image.fromarray(canvas)
    if titles:
        draw = ImageDraw.Draw(img)
        for i, title in enumerate(titles[: len(tiles)]):
            draw.text((4, pad + i * (h + pad) + h // 2 - 5), title, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
