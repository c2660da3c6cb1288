"""The label-frequency power law of the real XMC sets, which the GENERATED data reproduces.

    .venv/bin/python benchmarks/label_powerlaw.py

For each real text set, the exponent a of ``count ~ rank^-a`` over the training labels that occur at least 3
times (``polymodal.datasets.synth_xmc.rank_frequency_exponent``), plus the shape figures the generator is compared
with (labels per row, share of labels seen once). Writes ``results/xmr/label_powerlaw.json``; the generator's
default exponent is the mean over aol-clicks and debian-depends.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from entry import run
from provenance import commit, environment, write_json

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from polymodal.datasets import build_text_dataset
    from polymodal.datasets.synth_xmc import SynthConfig, rank_frequency_exponent

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["aol-clicks", "debian-depends", "debian-debtags"])
    ap.add_argument("--out", type=Path, default=ROOT / "results/xmr/label_powerlaw.json")
    args = ap.parse_args()
    rows = {}
    for name in args.datasets:
        ds = build_text_dataset(name)
        L = len(ds.labels)
        counts = np.bincount([lab for ys in ds.train_labels for lab in ys], minlength=L)
        rows[name] = {"n_labels": L, "n_train": len(ds.train_labels),
                      "exponent": rank_frequency_exponent(counts, min_count=3),
                      "labels_fitted": int((counts >= 3).sum()),
                      "labels_per_row": float(np.mean([len(y) for y in ds.train_labels])),
                      "share_seen_once": float((counts == 1).mean())}
        print(name, rows[name], flush=True)
    pair = [rows[n]["exponent"] for n in ("aol-clicks", "debian-depends") if n in rows]
    write_json(args.out, {"commit": commit(), "environment": environment(("numpy",)),
                          "command": "benchmarks/label_powerlaw.py", "min_count": 3, "datasets": rows,
                          "mean_aol_depends": float(np.mean(pair)) if pair else None,
                          "generator_default": SynthConfig().exponent})
    return 0


if __name__ == "__main__":
    run(main)
