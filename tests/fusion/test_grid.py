"""The concatenation baseline's grid: exact placement, white filler, colour modes and sizes handled."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")
from polymodal.errors import InputError  # noqa: E402
from polymodal.fusion.grid import tile_grid  # noqa: E402


def solid(value, size=8, channels=3):
    return np.full((size, size, channels), value, dtype=np.uint8)


def test_tiles_land_row_by_row_with_white_filler():
    ims = [solid(10 * (i + 1)) for i in range(5)]
    g = tile_grid(ims, tile=8)
    assert g.shape == (24, 24, 3)  # 5 images -> 3 x 3 grid
    for i in range(9):
        r, c = divmod(i, 3)
        cell = g[r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8]
        assert (cell == (10 * (i + 1) if i < 5 else 255)).all()


def test_explicit_columns_and_single_image():
    g = tile_grid([solid(1), solid(2)], tile=4, cols=2)
    assert g.shape == (4, 8, 3) and (g[:, :4] == 1).all() and (g[:, 4:] == 2).all()
    assert tile_grid([solid(7)], tile=8).shape == (8, 8, 3)


def test_grey_rgba_and_other_sizes_are_converted():
    grey = np.full((16, 10), 50, dtype=np.uint8)
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # fully transparent -> white
    g = tile_grid([grey, rgba], tile=8, cols=2)
    assert (g[:, :8] == 50).all()
    assert (g[:, 8:] == 255).all()


def test_bad_bags():
    with pytest.raises(InputError):
        tile_grid([], tile=8)
    with pytest.raises(InputError):
        tile_grid([np.zeros((4, 4, 2), dtype=np.uint8)], tile=8)
