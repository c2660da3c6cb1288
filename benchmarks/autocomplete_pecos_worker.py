"""libpecos half of the autocompletion cross-check (run with .venv-peers/bin/python by autocomplete.py).

``autocomplete_pecos_worker.py WORKDIR DEPTH``: trains ``XLinearModel`` on WORKDIR/X.npz, Y.npz with the cluster
chain C0..C{DEPTH-1}.npz (threshold 0.1, 2 threads, PECOS defaults otherwise), predicts a 1000-label pool for
Xte.npz with beam 10, writes WORKDIR/ids.npy (n x 1000, -1 padded) and prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def main() -> None:
    from pecos.utils.cluster_util import ClusterChain
    from pecos.xmc.xlinear.model import XLinearModel

    d, depth = Path(sys.argv[1]), int(sys.argv[2])
    X = sp.load_npz(d / "X.npz").tocsr().astype(np.float32)
    Y = sp.load_npz(d / "Y.npz").tocsr().astype(np.float32)
    Xte = sp.load_npz(d / "Xte.npz").tocsr().astype(np.float32)
    C = ClusterChain([sp.load_npz(d / f"C{t}.npz").tocsc().astype(np.float32) for t in range(depth)])
    t0 = time.perf_counter()
    m = XLinearModel.train(X, Y, C=C, threads=2, threshold=0.1)
    train_s = time.perf_counter() - t0
    P = sp.csr_matrix(m.predict(Xte, beam_size=10, only_topk=1000, threads=2))
    ids = np.full((P.shape[0], 1000), -1, dtype=np.int64)
    for i in range(P.shape[0]):
        a, b = P.indptr[i], P.indptr[i + 1]
        order = np.argsort(-P.data[a:b], kind="stable")
        ids[i, : len(order)] = P.indices[a:b][order]
    np.save(d / "ids.npy", ids)
    print(json.dumps({"train_s": train_s}))


if __name__ == "__main__":
    main()
