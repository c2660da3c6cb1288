"""End to end through the CLI on the GENERATED ``tiny`` size (fewer rows, so the text pipeline trains in
seconds): synth-xmc -> xmr train -> xmr evaluate / predict, with PSP@k checked against a brute-force
computation from the files alone."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from polymodal.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    assert main(["datasets", "synth-xmc", "--size", "tiny", "--rows", "8000", "--test-rows", "800",
                 "--out", str(root / "d")]) == 0
    assert main(["xmr", "train", "-i", str(root / "d" / "train.tsv"), "-m", str(root / "m"), "--quiet",
                 "--layout", "mmap"]) == 0
    return root


def _read(path):
    rows = []
    for line in path.read_text().splitlines():
        labs, text = line.split("\t")
        rows.append((set(map(int, labs.split(","))), text))
    return rows


def test_evaluate_beats_popularity_and_psp_matches_brute_force(trained, capsys):
    root = trained
    capsys.readouterr()
    assert main(["xmr", "evaluate", "-m", str(root / "m"), "-i", str(root / "d" / "test.tsv"), "-k", "5"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    train, test = _read(root / "d" / "train.tsv"), _read(root / "d" / "test.tsv")
    counts = Counter(lab for labs, _ in train for lab in labs)
    top = counts.most_common(1)[0][0]
    pop_p1 = 100 * sum(top in labs for labs, _ in test) / len(test)
    assert res["P@1"] > pop_p1 + 20
    # brute-force PSP@5 from `xmr predict` output and the training file's label counts
    assert main(["xmr", "predict", "-m", str(root / "m"), "-i", str(root / "d" / "test.tsv"), "-k", "5"]) == 0
    preds = [json.loads(x)["ids"] for x in capsys.readouterr().out.strip().splitlines()]
    n, A, B = len(train), 0.55, 1.5
    C = (math.log(n) - 1) * (B + 1) ** A
    inv = lambda lab: 1 + C * (counts.get(lab, 0) + B) ** -A  # noqa: E731
    num = sum(sum(inv(p) for p in pred[:5] if p in labs) for pred, (labs, _) in zip(preds, test))
    den = sum(sum(sorted((inv(x) for x in labs), reverse=True)[:5]) for labs, _ in test)
    assert res["PSP@5"] == pytest.approx(100 * num / den, abs=1e-3)
    assert 0 < res["PSP@1"] < res["P@1"]  # tail labels are harder: propensity scoring lowers the score
