"""Colour modes, sizes and corrupt files: documented handling or a clear error."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from polymodal.errors import InputError  # noqa: E402
from polymodal.vision.preprocess import load_image, to_rgb_array, to_tensor  # noqa: E402


def test_grey_is_replicated_and_rgba_composited_on_white():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (to_rgb_array(g) == g[:, :, None]).all() and to_rgb_array(g).shape == (3, 4, 3)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[0, 0, 3] = 255  # opaque red-ish pixel, the rest fully transparent
    out = to_rgb_array(rgba)
    assert out[0, 0].tolist() == [200, 0, 0] and out[1, 1].tolist() == [255, 255, 255]
    pil = to_rgb_array(Image.fromarray(rgba, "RGBA"))
    assert (pil == out).all()


def test_different_sizes_resize_to_the_square_input():
    t = to_tensor([np.zeros((10, 30, 3), np.uint8), np.full((64, 64), 255, np.uint8)], size=32)
    assert t.shape == (2, 3, 32, 32)
    assert float(t[0].max()) == 0.0 and torch.allclose(t[1], torch.ones(3, 32, 32))


def test_files(tmp_path):
    Image.fromarray(np.full((5, 6), 7, np.uint8), "L").save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").shape == (5, 6, 3)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(InputError, match="not a readable image"):
        load_image(tmp_path / "bad.jpg")
    with pytest.raises(InputError, match="no such image"):
        load_image(tmp_path / "missing.png")


def test_bad_arrays():
    with pytest.raises(InputError):
        to_rgb_array(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError):
        to_rgb_array(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError):
        to_tensor([])
