"""The docs table renderer (benchmarks/render_distill_table.py): rows at a non-default AMAD temperature must not
replace the grid's rows of the same student, method and seed, and are reported apart, paired by seed."""

import importlib.util
import statistics
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "render_distill_table.py"


@pytest.fixture(scope="module")
def render():
    spec = importlib.util.spec_from_file_location("render_distill_table", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _results(extra_rows=()):
    methods = ("labels", "kd", "one-to-one", "relations", "amad-mse", "amad-kl")
    rows = [{"student": "h4", "method": m, "seed": s, "accuracy": 0.5 + 0.01 * i + 0.001 * s, "epochs": 4,
             "lr": 5e-4, "commit": "abc"} for i, m in enumerate(methods) for s in (0, 1, 2)]
    for r in rows[:3]:
        r["tau"] = 0.1  # rows with and without the recorded default are the same setting
    return {"task": "t", "teacher": {"accuracy": 0.6}, "test": 10, "train": 20, "classes": ["a", "b"],
            "students": {"h4": {"layers": 6, "heads": 4}}, "kd_temperature": 2.0, "rows": rows + list(extra_rows)}


def _row(text: str, student: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {student}"))


def test_other_temperature_keeps_grid_table_and_is_paired(render):
    base = _results()
    # amad-kl at tau 0.01 beats the grid's amad-kl by 0.02, 0.03 on seeds 0 and 1; no seed 2
    extra = [{"student": "h4", "method": "amad-kl", "seed": s, "accuracy": 0.55 + 0.001 * s + d, "epochs": 4,
              "lr": 5e-4, "commit": "abc", "tau": 0.01, "attention_weight": 1.0} for s, d in ((0, 0.02), (1, 0.03))]
    plain, mixed = render.accuracy_table(base), render.accuracy_table(_results(extra))
    assert _row(plain, "h4: 6 layers") == _row(mixed, "h4: 6 layers")
    assert "settings other than" not in plain
    other = _row(mixed.split("settings other than")[1], "h4 ")
    cells = [c.strip() for c in other.strip("|").split("|")]
    accs = [0.57, 0.581]
    assert cells[:4] == ["h4", "amad-kl", "0.01", "1"]
    assert cells[4] == f"{100 * statistics.fmean(accs):.2f} ± {100 * statistics.stdev(accs):.2f} (2)"
    assert cells[5] == f"+2.50 ± {100 * statistics.stdev([0.02, 0.03]):.2f}, 2 seeds"
    # best baseline on seeds 0-1 is relations (0.53 + 0.001 s): delta 0.04 and 0.05
    assert cells[6] == f"+4.50 ± {100 * statistics.stdev([0.04, 0.05]):.2f} (relations), 2 seeds"


def test_grid_setting_prefers_defaults_else_most_common(render):
    assert render.grid_setting([{"tau": 0.5}, {"tau": 0.5}, {}]) == (0.1, 1.0)
    assert render.grid_setting([{"tau": 0.5}, {"tau": 0.5}, {"tau": 2.0}]) == (0.5, 1.0)
