"""Mulan / Extreme Classification Repository benchmarks stored as MATLAB v5 files (features given, no text)."""

from __future__ import annotations

import numpy as np
import scipy.io
import scipy.sparse as sp

from ..errors import DataError
from .home import fetch

# name -> (file, feature key, label key); label matrices are stored labels x instances.
MAT_SETS: dict[str, tuple[str, str, str]] = {
    "bibtex": ("multilabel/bibtex.mat", "dataset", "class"),
    "enron": ("multilabel/enron.mat", "data", "target"),
    "medical": ("multilabel/medical.mat", "data", "target"),
    "corel16k001": ("multilabel/Corel16k001.mat", "data", "target"),
    **{f"rcv1subset{i}": (f"multilabel/rcv1subset{i}_top944.mat", "data", "target") for i in range(1, 6)},
}


def load_mat(name: str, seed: int = 0, train_fraction: float = 0.8):
    """(X_train, Y_train, X_test, Y_test) as float32 / binary CSR, split by a seeded shuffle."""
    if name not in MAT_SETS:
        raise DataError(f"unknown .mat benchmark {name!r}; choose from {sorted(MAT_SETS)}")
    rel, xkey, ykey = MAT_SETS[name]
    mat = scipy.io.loadmat(fetch(rel))
    X = sp.csr_matrix(mat[xkey], dtype=np.float32)
    Y = sp.csr_matrix(mat[ykey]).T.tocsr()
    if Y.shape[0] != X.shape[0]:
        Y = Y.T.tocsr()
    Y.data[:] = 1
    Y = Y.astype(np.float32)
    Y.eliminate_zeros()
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    cut = int(round(train_fraction * X.shape[0]))
    tr, te = np.sort(perm[:cut]), np.sort(perm[cut:])
    return X[tr], Y[tr], X[te], Y[te]
