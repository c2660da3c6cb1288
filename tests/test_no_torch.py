"""The sparse core and its apps import and run with torch unavailable (torch lives behind the `torch` extra)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import numpy as np
import polymodal.cli, polymodal.xmr, polymodal.autocomplete.model, polymodal.retrieval.bm25, polymodal.serve.app
from polymodal.xmr.text_model import XRTextModel
texts = ["red apple", "green apple", "yellow banana", "ripe banana", "red cherry", "dark cherry"] * 5
labels = [[0], [0], [1], [1], [2], [2]] * 5
m = XRTextModel(nr_splits=2, max_leaf_size=2).fit(texts, labels, ["apple", "banana", "cherry"])
print(m.suggest("banana", 1)[0][0])
assert "torch" not in [k for k, v in sys.modules.items() if v is not None]
assert polymodal.cli.main(["fusion", "predict", "--model", "m", "a.png"]) == 2  # a clear error, no traceback
assert polymodal.cli.main(["diffusion", "sample", "--model", "m", "--out", "x.png"]) == 2
"""


def test_sparse_core_runs_without_torch():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "banana"
    assert "error: the fusion commands need the torch extra" in r.stderr
    assert "error: the diffusion commands need the torch extra" in r.stderr
