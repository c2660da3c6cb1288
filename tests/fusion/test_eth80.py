"""ETH-80 item labels: colour naming against known colours, the caption template, folds split by object,
bags of distinct views of one object, and the labels of the real objects."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")
from polymodal.errors import InputError  # noqa: E402
from polymodal.fusion.eth80 import (  # noqa: E402
    ATTRIBUTES,
    COLOURS,
    FACTS,
    caption_of,
    colour_names,
    make_bags,
    object_folds,
    object_labels,
)


@pytest.mark.parametrize("rgb,name", [
    ((230, 20, 20), "red"), ((240, 130, 10), "orange"), ((235, 220, 30), "yellow"), ((30, 180, 40), "green"),
    ((20, 60, 220), "blue"), ((150, 30, 200), "purple"), ((120, 60, 20), "brown"), ((250, 250, 250), "white"),
    ((128, 128, 128), "grey"), ((10, 10, 10), "black"), ((240, 30, 60), "red"),  # hue just below 360 wraps to red
])
def test_colour_names_of_known_colours(rgb, name):
    assert COLOURS[int(colour_names(np.array([[rgb]], dtype=np.uint8))[0, 0])] == name


def test_colour_names_keeps_shape_and_rejects_non_rgb():
    px = np.zeros((4, 5, 3), dtype=np.uint8)
    assert colour_names(px).shape == (4, 5)
    with pytest.raises(InputError):
        colour_names(np.zeros((4, 2), dtype=np.uint8))


def test_caption_template_orders_colours_by_share():
    attrs = np.zeros(len(ATTRIBUTES), bool)
    for a in ("red", "yellow", "tall", "fruit"):
        attrs[ATTRIBUTES.index(a)] = True
    shares = np.zeros(len(COLOURS))
    shares[COLOURS.index("red")], shares[COLOURS.index("yellow")] = 0.3, 0.6
    assert caption_of("pear", attrs, shares) == "a tall yellow and red pear , a fruit"


def test_folds_hold_out_whole_objects_stratified():
    category = np.repeat(np.arange(8), 10)
    folds = object_folds(category, k=5, seed=3)
    together = np.concatenate(folds)
    assert sorted(together.tolist()) == list(range(80))  # every object in exactly one test fold
    for f in folds:
        assert np.bincount(category[f], minlength=8).tolist() == [2] * 8
    with pytest.raises(InputError):
        object_folds(category, k=11)


def test_real_objects(eth80):
    labels = object_labels(eth80)
    n = len(labels.category)
    assert n == 80 and labels.attributes.shape == (80, len(ATTRIBUTES))
    names = [eth80.category_names[c] for c in labels.category]
    for fact, members in FACTS.items():  # the category facts follow the category exactly
        assert (labels.attributes[:, ATTRIBUTES.index(fact)] == np.isin(names, members)).all()
    # colour attributes are the shares above the threshold, shares are a distribution over names
    assert np.allclose(labels.colour_share.sum(1), 1.0)
    assert ((labels.colour_share >= 0.15) == labels.attributes[:, : len(COLOURS)]).all()
    # measurable facts of the real photos: pears are tall, cars are wide, tomatoes are red or orange
    pears = np.array(names) == "pear"
    assert labels.attributes[pears, ATTRIBUTES.index("tall")].mean() >= 0.8
    assert labels.attributes[np.array(names) == "car", ATTRIBUTES.index("wide")].all()
    tomato = np.array(names) == "tomato"
    warm = labels.attributes[tomato][:, [COLOURS.index("red"), COLOURS.index("orange")]].any(1)
    assert warm.all()
    assert all(c.endswith((", a fruit", ", an animal", ", a man-made object")) for c in labels.captions)
    assert all(names[i] in labels.captions[i] for i in range(n))


def test_bags_are_distinct_views_of_their_object(eth80):
    owners, bags = make_bags(eth80, np.array([0, 5, 79]), [2, 8, 41], seed=0)
    assert owners.tolist() == [0, 0, 0, 5, 5, 5, 79, 79, 79]
    for o, row in zip(owners, bags, strict=True):
        real = row[row >= 0]
        assert len(set(real.tolist())) == len(real)
        assert (eth80.object_id[real] == o).all()
    assert [(r >= 0).sum() for r in bags[:3]] == [2, 8, 41]
    with pytest.raises(InputError):
        make_bags(eth80, np.array([0]), [42], seed=0)
