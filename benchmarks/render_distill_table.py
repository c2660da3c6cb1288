"""Markdown tables for docs/distill.md from the JSON that benchmarks/distill.py writes.

    .venv/bin/python benchmarks/render_distill_table.py                          # print every table
    .venv/bin/python benchmarks/render_distill_table.py --splice docs/distill.md  # rewrite them in place

With --splice, each table replaces the lines between ``<!-- begin distill_<task> -->`` and
``<!-- end distill_<task> -->`` in the file (the JSON's stem names the block); the prose around them is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"
METHODS = ("labels", "kd", "one-to-one", "relations", "amad-mse", "amad-kl")
BASELINES = ("labels", "kd", "one-to-one", "relations")
STUDENTS = ("h12", "h6", "h4", "h2", "l2")


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def setting(r: dict) -> tuple[float, float]:
    """A row's (AMAD temperature, attention weight); rows measured before they were recorded used 0.1 and 1."""
    return r.get("tau", 0.1), r.get("attention_weight", 1.0)


def grid_setting(rows: list[dict]) -> tuple[float, float]:
    """The setting the grid ran at: the defaults (0.1, 1) when any row has them, else the most common one."""
    counts = Counter(setting(r) for r in rows)
    return (0.1, 1.0) if (0.1, 1.0) in counts else counts.most_common(1)[0][0]


def other_settings_table(res: dict, main: tuple[float, float], by: dict) -> list[str]:
    """Rows at a temperature or attention weight other than the grid's, each paired by seed with the same method
    at the grid's setting and with the best baseline (chosen on the shared seeds); empty when there are none."""
    other: dict = {}
    for r in res["rows"]:
        if setting(r) != main:
            other.setdefault((r["student"], r["method"], *setting(r)), {})[r["seed"]] = r["accuracy"]
    if not other:
        return []
    lines = ["", f"Rows at settings other than the grid's (tau {main[0]:g}, attention weight {main[1]:g}); the deltas "
             "are paired by seed.", "",
             "| student | method | tau | attention weight | accuracy % (n) | minus the same method at the grid setting "
             "| minus the best baseline |", "|---|---|---|---|---|---|---|"]
    for (s, m, tau, w), acc in sorted(other.items(), key=lambda kv: (STUDENTS.index(kv[0][0]), kv[0][1:])):
        mu, sd = mean_std(list(acc.values()))
        cells, grid = [], by.get(s, {})
        for ref in (m, None):
            methods = (ref,) if ref else BASELINES
            seeds = sorted(set(acc).intersection(*(set(grid.get(b, {})) for b in methods)))
            if not seeds:
                cells.append("-")
                continue
            best = max(methods, key=lambda b: statistics.fmean(grid[b][k] for k in seeds))
            dm, dsd = mean_std([acc[k] - grid[best][k] for k in seeds])
            cells.append(f"{100 * dm:+.2f} ± {100 * dsd:.2f}" + ("" if ref else f" ({best})") + f", {len(seeds)} seeds")
        lines.append(f"| {s} | {m} | {tau:g} | {w:g} | {100 * mu:.2f} ± {100 * sd:.2f} ({len(acc)}) | "
                     + " | ".join(cells) + " |")
    return lines


def accuracy_table(res: dict) -> str:
    teacher = res["teacher"]["accuracy"]
    main = grid_setting(res["rows"])
    by = {}
    for r in res["rows"]:
        if setting(r) == main:
            by.setdefault(r["student"], {}).setdefault(r["method"], {})[r["seed"]] = r["accuracy"]
    lines = [f"{res['task']}. Teacher (6 layers x 12 heads, MiniLM start): **{100 * teacher:.2f}%** test accuracy "
             f"({res['test']} test / {res['train']} training examples, {len(res['classes'])} classes)."
             + (f" Low-data regime: students see a seeded {res['train_fraction']:g} of the labelled training "
                f"examples ({res['student_train']}), the teacher saw all of them."
                if "student_train" in res else ""), "",
             "Student accuracy %, mean ± std over seeds (n); the last column is the best AMAD form minus the best "
             "baseline, paired by seed.", "",
             "| student | " + " | ".join(METHODS) + " | AMAD - best baseline |",
             "|---" * (len(METHODS) + 2) + "|"]
    for s in STUDENTS:
        if s not in by:
            continue
        spec = res["students"][s]
        cells = []
        for m in METHODS:
            v = list(by[s].get(m, {}).values())
            if v:
                mu, sd = mean_std(v)
                cells.append(f"{100 * mu:.2f} ± {100 * sd:.2f} ({len(v)})")
            else:
                cells.append("-")
        seeds = sorted(set.intersection(*(set(by[s].get(m, {})) for m in METHODS)))
        delta = "-"
        if seeds:
            best_amad = max(("amad-mse", "amad-kl"), key=lambda m: statistics.fmean(by[s][m][k] for k in seeds))
            best_base = max(BASELINES, key=lambda m: statistics.fmean(by[s][m][k] for k in seeds))
            d = [by[s][best_amad][k] - by[s][best_base][k] for k in seeds]
            mu, sd = mean_std(d)
            n_seeds = f"{len(seeds)} seed" + ("s" if len(seeds) != 1 else "")
            delta = f"{100 * mu:+.2f} ± {100 * sd:.2f} ({best_amad} vs {best_base}, {n_seeds})"
        lines.append(f"| {s}: {spec['layers']} layers x {spec['heads']} heads | " + " | ".join(cells)
                     + f" | {delta} |")
    lines += ["", "Share of the teacher's accuracy kept (mean over seeds, best method):", ""]
    for s in STUDENTS:
        if s in by:
            best = max(statistics.fmean(v.values()) for v in by[s].values())
            lines.append(f"- {s}: {100 * best / teacher:.1f}%")
    lines += other_settings_table(res, main, by)
    env = res["teacher"].get("environment")
    if env:
        versions = ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("python", "cpu", "cores", "torch_threads"))
        lines += ["", f"Teacher trained on: {env['cpu']}, {env.get('torch_threads', '?')} thread(s), Python "
                  f"{env['python']}, {versions}."]
    commits = sorted({r["commit"] for r in res["rows"]})
    lines += ["", f"Code: {', '.join(commits)}; {res['rows'][0]['epochs']} epochs, lr {res['rows'][0]['lr']}, "
              f"tau {main[0]:g}, KD temperature {res['kd_temperature']}."]
    return "\n".join(lines)


def tuning_table(res: dict) -> str:
    """Validation accuracy per student, method, attention weight and AMAD temperature (``--validation`` runs)."""
    by: dict = {}
    for r in res["rows"]:
        tau, weight = setting(r)
        key = (r["student"], r["method"], weight, tau)
        by.setdefault(key, []).append(r["accuracy"])
    lines = [f"{res['task']}. Validation: a seeded {res['validation']:g} of the students' training batches "
             f"({res['test']} examples), the students train on the other {res['student_train']}.", "",
             "| student | method | attention weight | tau | validation accuracy % (seeds) |", "|---|---|---|---|---|"]
    order = {m: i for i, m in enumerate(METHODS)}
    for (s, m, w, tau), v in sorted(by.items(), key=lambda kv: (STUDENTS.index(kv[0][0]), order[kv[0][1]],
                                                                kv[0][2], kv[0][3])):
        mu, sd = mean_std(v)
        shown_tau = f"{tau:g}" if m.startswith("amad") else "-"
        shown_w = f"{w:g}" if m not in ("labels", "kd") else "-"
        lines.append(f"| {s} | {m} | {shown_w} | {shown_tau} | {100 * mu:.2f} ± {100 * sd:.2f} ({len(v)}) |")
    return "\n".join(lines)


def latency_table(res: dict) -> str:
    lat = res.get("latency")
    if not lat:
        return ""
    lines = [f"CPU latency ({lat['threads']} threads; one real title per call, p50 of {lat['reps']} calls; and "
             f"per example in a batch of {lat['batch']} titles padded to {lat['batch_length']} tokens), code "
             f"{lat['commit']}:", "",
             "| model | layers x heads | width | params (M) | params w/o embeddings (M) | one title ms | speed-up | "
             "batched ms/title | speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    for k, r in lat["models"].items():
        lines.append(f"| {k} | {r['layers']} x {r['heads']} | {r['hidden']} | {r['params'] / 1e6:.2f} | "
                     f"{r['params_without_embeddings'] / 1e6:.2f} | {r['p50_ms_one']:.2f} | "
                     f"{r['speedup_one']:.2f}x | {r['ms_per_example_batched']:.3f} | {r['speedup_batched']:.2f}x |")
    return "\n".join(lines)


def render(res: dict) -> str:
    return tuning_table(res) if "validation" in res else accuracy_table(res)


def splice(doc: Path, tables: dict[str, str]) -> list[str]:
    """Replace each marked block of ``doc`` by its table; written through a temporary file. Returns the names
    spliced; a block whose JSON is missing is an error, so a stale table never survives silently."""
    text = doc.read_text()
    pattern = re.compile(r"(<!-- begin (distill_\w+) -->\n).*?(<!-- end \2 -->)", re.S)
    missing = [m.group(2) for m in pattern.finditer(text) if m.group(2) not in tables]
    if missing:
        raise SystemExit(f"{doc}: no results for the block(s) {', '.join(missing)}")
    done = []

    def sub(m):
        done.append(m.group(2))
        return m.group(1) + "\n" + tables[m.group(2)] + "\n\n" + m.group(3)

    text = pattern.sub(sub, text)
    tmp = doc.with_suffix(doc.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, doc)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splice", type=Path, help="rewrite the marked tables of this Markdown file in place")
    args = ap.parse_args(argv)
    paths = sorted(RESULTS.glob("distill_*.json"))
    if not paths:
        print(f"no {RESULTS}/distill_*.json; run benchmarks/distill.py first", file=sys.stderr)
        return 1
    results = {p.stem: json.loads(p.read_text()) for p in paths}
    results = {k: v for k, v in results.items() if v.get("rows")}
    if args.splice:
        if not args.splice.is_file():
            ap.error(f"{args.splice}: no such file")
        done = splice(args.splice, {k: render(v) for k, v in results.items()})
        print(f"{args.splice}: spliced {', '.join(done) or 'nothing (no markers)'}")
        return 0
    for name, res in results.items():
        print(f"### {name}.json\n")
        print(render(res))
        print()
        print(latency_table(res))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
