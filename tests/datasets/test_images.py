"""The real image sets load with the documented shapes and facts."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.datasets.images import load_eth80, load_fashion_mnist, load_flickr8k, load_isbi
from polymodal.errors import DataError


def test_eth80():
    d = load_eth80()
    assert d.images.shape == (3280, 128, 128, 3) and d.masks.shape == (3280, 128, 128)
    assert d.category_names == ["apple", "car", "cow", "cup", "dog", "horse", "pear", "tomato"]
    assert len(np.unique(d.object_id)) == 80
    assert all(len(d.views_of(o)) == 41 for o in range(80))
    for o in range(80):  # every object belongs to one category, 10 objects per category
        assert len(np.unique(d.label[d.views_of(o)])) == 1
    assert np.bincount(d.label[[d.views_of(o)[0] for o in range(80)]]).tolist() == [10] * 8
    assert set(np.unique(d.masks)) <= {0, 1} and 0.05 < d.masks.mean() < 0.8


def test_fashion_mnist():
    x, y = load_fashion_mnist("test")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10
    with pytest.raises(DataError):
        load_fashion_mnist("val")


def test_flickr8k():
    f = load_flickr8k()
    assert len(f.captions) == 8092 and all(len(c) == 5 for c in f.captions.values())
    assert [len(f.splits[s]) for s in ("train", "dev", "test")] == [6000, 1000, 1000]
    assert len(f.with_pixels) == 1000
    assert [len(f.available(s)) for s in ("train", "dev", "test")] == [753, 113, 125]
    assert f.image_path(f.available("test")[0]).is_file()


def test_isbi():
    x, y = load_isbi("train")
    assert x.shape == (30, 512, 512) and y.shape == (30, 512, 512) and y.dtype == bool
    assert 0.6 < y.mean() < 0.9  # mostly cell interior, thin membranes
    xt, none = load_isbi("test")
    assert xt.shape == (30, 512, 512) and none is None
