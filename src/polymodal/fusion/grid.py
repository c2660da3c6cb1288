"""The concatenation baseline's input: an item's images tiled into one grid image."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError


def tile_grid(images: Sequence, tile: int = 128, cols: int | None = None, fill: int = 255) -> np.ndarray:
    """Tile ``images`` row by row into a grid of ``tile x tile`` cells; unused cells are ``fill`` (white). By default
    the grid is square, k x k with k = ceil(sqrt(n)), so that resizing it to the encoder's square input keeps every
    view's aspect ratio; with ``cols`` it has ceil(n / cols) rows. Images of any size or colour mode are converted
    to RGB and resized to the cell (bilinear) -> uint8 (rows*tile, cols*tile, 3)."""
    from PIL import Image

    from ..vision.preprocess import to_rgb_array

    if len(images) == 0:
        raise InputError("cannot tile an empty bag")
    if tile < 1:
        raise InputError(f"tile size must be positive, got {tile}")
    n = len(images)
    if cols is None:
        cols = rows = math.ceil(math.sqrt(n))
    else:
        rows = math.ceil(n / cols)
    out = np.full((rows * tile, cols * tile, 3), fill, dtype=np.uint8)
    for i, im in enumerate(images):
        rgb = to_rgb_array(im)
        if rgb.shape[:2] != (tile, tile):
            rgb = np.asarray(Image.fromarray(rgb).resize((tile, tile), Image.BILINEAR))
        r, c = divmod(i, cols)
        out[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = rgb
    return out
