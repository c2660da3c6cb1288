"""ETH-80 as multi-image items: each of the 80 objects is an item, a bag is a subset of its 41 views.

Labels per object, all derived from the real images (docs/fusion.md lists the rules):

* category: one of 8 (apple, car, cow, cup, dog, horse, pear, tomato);
* attributes (multi-label):
  - colour names measured from the object's masked pixels over all its views: each pixel is named from its HSV
    value (``colour_names``), and a colour is an attribute when at least ``COLOUR_SHARE`` of the object's pixels
    carry it;
  - shape from the masks: ``tall`` / ``wide`` when the median over views of the mask's bounding-box height/width
    is above 1.15 / below 1/1.15;
  - category facts: ``fruit`` (apple, pear, tomato), ``animal`` (cow, dog, horse), ``man-made`` (car, cup);
* caption: a templated sentence assembled from those measured attributes (``caption_of``), e.g.
  "a tall red and yellow apple , a fruit" -- templated, not human-written.

Evaluation is by object: ``object_folds`` holds out whole objects (stratified by category), never views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.images import ETH80
from ..errors import InputError

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "brown", "white", "grey", "black")
SHAPES = ("tall", "wide")
FACTS = {"fruit": ("apple", "pear", "tomato"), "animal": ("cow", "dog", "horse"), "man-made": ("car", "cup")}
ATTRIBUTES = COLOURS + SHAPES + tuple(FACTS)
COLOUR_SHARE = 0.15
ASPECT = 1.15

SATURATED = 0.35
# hue ranges in degrees for saturated pixels (s > SATURATED and v >= 0.2); red wraps around 0
_HUES = (("red", 0, 20), ("orange", 20, 45), ("yellow", 45, 70), ("green", 70, 170), ("blue", 170, 260),
         ("purple", 260, 330), ("red", 330, 361))


def colour_names(rgb: np.ndarray) -> np.ndarray:
    """Name every pixel of ``rgb`` (..., 3) uint8: an index into ``COLOURS`` per pixel.

    black: v < 0.2; achromatic (s <= SATURATED): white when v > 0.75 else grey; saturated: by hue (``_HUES``),
    except that red/orange/yellow hues with v < 0.55 are brown.
    """
    from skimage.color import rgb2hsv

    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise InputError(f"expected RGB pixels (..., 3), got shape {rgb.shape}")
    hsv = rgb2hsv(rgb.reshape(-1, 1, 3).astype(np.float64) / 255.0).reshape(-1, 3)
    h, s, v = hsv[:, 0] * 360.0, hsv[:, 1], hsv[:, 2]
    out = np.empty(len(hsv), dtype=np.int64)
    for name, lo, hi in _HUES:
        out[(h >= lo) & (h < hi)] = COLOURS.index(name)
    warm = np.isin(out, [COLOURS.index(c) for c in ("red", "orange", "yellow")])
    out[warm & (v < 0.55)] = COLOURS.index("brown")
    grey = s <= SATURATED
    out[grey] = np.where(v[grey] > 0.75, COLOURS.index("white"), COLOURS.index("grey"))
    out[v < 0.2] = COLOURS.index("black")
    return out.reshape(rgb.shape[:-1])


def mask_aspect(mask: np.ndarray) -> float:
    """Bounding-box height / width of a boolean mask (1 when empty)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return 1.0
    return (rows[-1] - rows[0] + 1) / (cols[-1] - cols[0] + 1)


@dataclass
class ObjectLabels:
    category: np.ndarray  # (80,) int
    attributes: np.ndarray  # (80, len(ATTRIBUTES)) bool
    captions: list[str]
    colour_share: np.ndarray  # (80, len(COLOURS)) share of the object's pixels per colour name
    aspect: np.ndarray  # (80,) median bounding-box height / width


def object_labels(eth: ETH80) -> ObjectLabels:
    n_obj = int(eth.object_id.max()) + 1
    cat = np.zeros(n_obj, dtype=np.int64)
    attrs = np.zeros((n_obj, len(ATTRIBUTES)), dtype=bool)
    shares = np.zeros((n_obj, len(COLOURS)))
    aspect = np.zeros(n_obj)
    captions = []
    for obj in range(n_obj):
        views = eth.views_of(obj)
        cat[obj] = eth.label[views[0]]
        masks = eth.masks[views].astype(bool)
        names = colour_names(eth.images[views][masks])
        shares[obj] = np.bincount(names, minlength=len(COLOURS)) / max(1, names.size)
        aspect[obj] = float(np.median([mask_aspect(m) for m in masks]))
        attrs[obj, : len(COLOURS)] = shares[obj] >= COLOUR_SHARE
        attrs[obj, ATTRIBUTES.index("tall")] = aspect[obj] > ASPECT
        attrs[obj, ATTRIBUTES.index("wide")] = aspect[obj] < 1 / ASPECT
        cname = eth.category_names[cat[obj]]
        for fact, members in FACTS.items():
            attrs[obj, ATTRIBUTES.index(fact)] = cname in members
        captions.append(caption_of(cname, attrs[obj], shares[obj]))
    return ObjectLabels(cat, attrs, captions, shares, aspect)


_FACT_WORDS = {"fruit": ("a", "fruit"), "animal": ("an", "animal"), "man-made": ("a", "man-made", "object")}


def caption_of(category: str, attrs: np.ndarray, shares: np.ndarray) -> str:
    """"a [tall|wide] <colours, most frequent first, joined by 'and'> <category> , a <fact>"."""
    colours = [COLOURS[i] for i in np.argsort(-shares, kind="stable") if attrs[i]]
    shape = [s for s in SHAPES if attrs[ATTRIBUTES.index(s)]]
    fact = next(f for f in FACTS if attrs[ATTRIBUTES.index(f)])
    words = ["a", *shape, " and ".join(colours), category, ",", *_FACT_WORDS[fact]]
    return " ".join(w for w in words if w)


def object_folds(category: np.ndarray, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint test sets of object ids, each holding the same number of objects from every category."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for c in np.unique(category):
        objs = rng.permutation(np.flatnonzero(category == c))
        if len(objs) < k:
            raise InputError(f"category {c} has {len(objs)} objects, fewer than {k} folds")
        for i, part in enumerate(np.array_split(objs, k)):
            folds[i].extend(part.tolist())
    return [np.sort(np.array(f)) for f in folds]


def make_bags(eth: ETH80, objects: np.ndarray, sizes: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One bag per (object, size) pair in ``sizes``: distinct views drawn at random. Returns (object id per bag,
    view indices (bags, max(sizes)) padded with -1)."""
    rng = np.random.default_rng(seed)
    width = max(sizes)
    owners, bags = [], []
    for obj in objects:
        views = eth.views_of(int(obj))
        for size in sizes:
            if not 1 <= size <= len(views):
                raise InputError(f"bag size {size} outside 1..{len(views)} views")
            row = np.full(width, -1, dtype=np.int64)
            row[:size] = rng.choice(views, size=size, replace=False)
            owners.append(int(obj))
            bags.append(row)
    return np.array(owners, dtype=np.int64), np.stack(bags)
