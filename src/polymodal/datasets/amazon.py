"""Amazon UK toys sample (10,000 products, PromptCloud): product title -> every prefix of its category path.

``amazon-toys-category``: the category ``A > B > C`` gives labels ``A``, ``A > B``, ``A > B > C``; products with
no category are dropped; labels used at least twice (over all products) are kept; products left with no label
are dropped; the rest is split 80/20 by a seeded shuffle (seed 0).
"""

from __future__ import annotations

import csv
import gzip

from .home import fetch
from .xmc import TextXMCDataset, from_records

RELPATH = "amazon_uk_toys/amazon_co-ecommerce_sample.csv.gz"


def load_products() -> list[dict[str, str]]:
    cols = ["uniq_id", "product_name", "category", "manufacturer", "price", "stock", "n_reviews",
            "n_answered", "rating"]
    with gzip.open(fetch(RELPATH), "rt", encoding="utf-8", newline="") as f:
        return [dict(zip(cols, row)) for row in csv.reader(f) if len(row) >= 3]


def category_prefixes(path: str) -> list[str]:
    parts = [p.strip() for p in path.split(">") if p.strip()]
    return [" > ".join(parts[: i + 1]) for i in range(len(parts))]


def build_category(seed: int = 0) -> TextXMCDataset:
    prods = load_products()
    meta = {"source": RELPATH, "products": len(prods), "split": f"80/20 seeded shuffle, seed {seed}"}
    return from_records(
        "amazon-toys-category",
        [p["product_name"] for p in prods],
        [category_prefixes(p["category"]) for p in prods],
        None,
        min_label_count=2,
        meta=meta,
        seed=seed,
    )


def build_top_category(min_count: int = 40, test_fraction: float = 0.2, seed: int = 0):
    """Single-label text classification: product title -> top-level category (``A`` of ``A > B > C``).

    Products with no category are dropped, and so are top-level categories with fewer than ``min_count`` products
    (14 categories remain at the default 40: 9,215 products); the rest is split by a seeded shuffle.
    Returns ``(train_texts, train_labels, test_texts, test_labels, class_names)`` (labels index class_names).
    """
    import numpy as np

    prods = [p for p in load_products() if p["category"].strip()]
    tops = [category_prefixes(p["category"])[0] for p in prods]
    counts: dict[str, int] = {}
    for t in tops:
        counts[t] = counts.get(t, 0) + 1
    names = sorted(t for t, c in counts.items() if c >= min_count)
    index = {n: i for i, n in enumerate(names)}
    keep = [(p["product_name"], index[t]) for p, t in zip(prods, tops, strict=True) if t in index]
    order = np.random.default_rng(seed).permutation(len(keep))
    n_test = int(round(test_fraction * len(keep)))
    test, train = [keep[i] for i in order[:n_test]], [keep[i] for i in order[n_test:]]
    return ([t for t, _ in train], [y for _, y in train], [t for t, _ in test], [y for _, y in test], names)
