from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not os.environ.get("POLYMODAL_DATA") and (_SHARED / "MANIFEST.sha256").is_file():
    os.environ["POLYMODAL_DATA"] = str(_SHARED)


@pytest.fixture(scope="session")
def debian_depends():
    """The real debian-depends set (built once per test session)."""
    from polymodal.datasets import build_text_dataset

    return build_text_dataset("debian-depends")


@pytest.fixture(scope="session")
def small_xmc(debian_depends):
    """A real slice: 4000 training / 800 test examples of debian-depends, vectorised, with the labels that
    occur in the training slice (re-indexed)."""
    from polymodal.xmr.features import TextVectorizer
    from polymodal.xmr.metrics import labels_to_csr

    ds = debian_depends
    tr_t, tr_y = ds.train_texts[:4000], ds.train_labels[:4000]
    te_t, te_y = ds.test_texts[:800], ds.test_labels[:800]
    used = sorted({lab for ys in tr_y for lab in ys})
    remap = {lab: i for i, lab in enumerate(used)}
    tr_y = [[remap[lab] for lab in ys] for ys in tr_y]
    te_y = [[remap[lab] for lab in ys if lab in remap] for ys in te_y]
    vec = TextVectorizer()
    X = vec.fit_transform(tr_t)
    Xte = vec.transform(te_t)
    L = len(used)
    return {
        "X": X, "Y": labels_to_csr(tr_y, L), "Xte": Xte, "Yte": labels_to_csr(te_y, L),
        "texts": tr_t, "labels": tr_y, "test_texts": te_t, "test_labels": te_y,
        "names": [ds.labels[i] for i in used],
    }


def random_sparse(n, d, density, seed):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", random_state=rng, dtype=np.float32)
    X.data = rng.random(X.nnz).astype(np.float32)
    return X


@pytest.fixture(scope="session")
def eth80():
    """The real ETH-80 views (loaded once per test session)."""
    from polymodal.datasets.images import load_eth80

    return load_eth80()
