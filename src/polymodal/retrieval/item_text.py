"""Item text as extra training pairs: each item's own name, as words, labelled with that item.

A query never seen in training can still share words or character n-grams with the item it is after
("wake medical center" -> http://www.wakemed.org/). Adding one pair (words of the item's name -> the item) per item
lets a model that learns from (text, items) pairs use that, and any baseline given the same pairs can use it too:
the retrieval benchmark gives the same augmented pairs to XR-Linear, BM25 and the dense kNN baseline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import InputError

# parts of a URL that name no item: scheme, "www", generic top-level domains, page suffixes
_NOISE = frozenset({"http", "https", "www", "com", "org", "net", "edu", "gov", "co", "uk", "us", "html", "htm",
                    "index", "php", "asp", "aspx"})
_SPLIT = re.compile(r"[^0-9a-z]+")


def item_text(name: str) -> str:
    """The words of an item name: lowercase, split on anything not a letter or digit, URL noise dropped.

    >>> item_text("http://www.bankofamerica.com/")
    'bankofamerica'
    >>> item_text("Toys & Games > Puzzles")
    'toys games puzzles'
    """
    return " ".join(w for w in _SPLIT.split(name.lower()) if w and w not in _NOISE)


def with_item_text(texts: Sequence[str], label_lists: Sequence[Sequence[int]], names: Sequence[str],
                   copies: int = 1) -> tuple[list[str], list[list[int]]]:
    """The training pairs plus ``copies`` pairs (item_text(name) -> [item]) per item whose text is not empty."""
    if copies < 0:
        raise InputError(f"item-text copies must be >= 0, got {copies}")
    extra = [(t, [i]) for i, t in enumerate(map(item_text, names)) if t]
    return (list(texts) + [t for t, _ in extra] * copies,
            [list(y) for y in label_lists] + [y for _, y in extra] * copies)
