"""``make demo``: build debian-depends from the real Debian index, train XR-Linear, evaluate, show examples."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .cli import main as cli


def run(out: Path) -> int:
    data = out / "debian-depends"
    model = out / "debian-depends-model"
    steps = [
        ["datasets", "build", "debian-depends", "--out", str(data)],
        ["xmr", "train", "-i", str(data / "train.tsv"), "-m", str(model)],
        ["xmr", "evaluate", "-m", str(model), "-i", str(data / "test.tsv"), "-k", "10"],
    ]
    for argv in steps:
        print("$ polymodal " + " ".join(argv), flush=True)
        t0 = time.perf_counter()
        rc = cli(argv)
        if rc:
            return rc
        print(f"  ({time.perf_counter() - t0:.1f}s)\n", flush=True)

    from .xmr.text2text import read_text2text
    from .xmr.text_model import XRTextModel

    m = XRTextModel.load(model)
    texts, ys = read_text2text(data / "test.tsv")
    print("Held-out Debian packages and their predicted dependencies (* = a true dependency):")
    for i in range(0, len(texts), len(texts) // 5)[:5]:
        truth = set(ys[i])
        ids, _ = m.predict_one(texts[i], k=5)
        shown = ", ".join(("*" if j in truth else "") + m.labels_[j] for j in ids)
        print(f"- {texts[i][:90]}{'...' if len(texts[i]) > 90 else ''}\n    -> {shown}")
    print(json.dumps({"model": str(model), "labels": m.xr.n_labels_}))
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/demo"))
    raise SystemExit(run(ap.parse_args().out))


if __name__ == "__main__":
    main()
