"""Markdown tables for docs/retrieval.md from bench-results/retrieval-DATASET.json.

    .venv/bin/python benchmarks/render_retrieval_table.py bench-results/retrieval-aol-clicks.json
"""

from __future__ import annotations

import json
import sys


def features_table(r: dict) -> list[str]:
    out = ["| method | R@10 | R@100 | P@1 | MRR | train / build s | p50 ms | p99 ms | model MB |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, v in r.get("features", {}).items():
        out.append(f"| XR-Linear, {name} features | {v['R@10']:.2f} | {v['R@100']:.2f} | {v['P@1']:.2f} | "
                   f"{v['MRR']:.2f} | {v['train_s']:.1f} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | "
                   f"{v['model_mb']:.1f} |")
    for name, v in r.get("baselines", {}).items():
        build = f"{v['build_s']:.1f}" if "build_s" in v else "-"
        ms = f"{v['batch_ms_per_query']:.2f} (batch)" if "batch_ms_per_query" in v else "-"
        out.append(f"| {name} | {v['R@10']:.2f} | {v.get('R@100', 0):.2f} | {v['P@1']:.2f} | {v['MRR']:.2f} | "
                   f"{build} | {ms} | - | - |")
    return out


def sweep_table(r: dict) -> list[str]:
    rows = r.get("sweep", {}).get("rows", [])
    if not rows:
        return []
    out = ["| threshold | beam | R@10 | R@100 | p50 ms | p99 ms | model MB | weights |",
           "|---|---|---|---|---|---|---|---|"]
    for v in rows:
        out.append(f"| {v['threshold']:g} | {v['beam']} | {v['R@10']:.2f} | {v['R@100']:.2f} | {v['p50_ms']:.3f} | "
                   f"{v['p99_ms']:.3f} | {v['model_mb']:.1f} | {v['weights']:,} |")
    return out


def ensemble_table(r: dict) -> list[str]:
    e = r.get("ensemble")
    if not e:
        return []
    out = ["| training pairs | method | R@10 | R@100 | P@1 | MRR | train / build s | p50 ms | p99 ms | model MB |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for setting in ("queries", "queries+item_text"):
        if setting not in e:
            continue
        for name, v in e[setting].items():
            label = f"XR ensemble (char weight {v['char_weight']:g})" if name == "xr_ensemble" else name
            secs = v.get("train_s", v.get("build_s"))
            lat = (f"{v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {v['model_mb']:.1f}" if "p50_ms" in v else "- | - | -")
            out.append(f"| {setting} | {label} | {v['R@10']:.2f} | {v['R@100']:.2f} | {v['P@1']:.2f} | "
                       f"{v['MRR']:.2f} | {'-' if secs is None else f'{secs:.1f}'} | {lat} |")
    out.append("")
    for setting in ("queries", "queries+item_text"):
        if setting in e:
            x = e[setting]["xr_ensemble"]
            for name, d in x.get("R@10_minus_baseline", {}).items():
                out.append(f"- {setting}: XR ensemble minus {name}: {d['diff']:+.2f} R@10 points, 95 % interval "
                           f"[{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}] ({d['groups']:,} query strings resampled)")
            if "dense_build_over_train" in x:
                out.append(f"- {setting}: dense build / XR ensemble training = {x['dense_build_over_train']:.2f}x")
    return out


def main() -> None:
    r = json.loads(open(sys.argv[1]).read())
    if r.get("features") or r.get("baselines"):
        print("\n".join(features_table(r)))
        print()
    if r.get("sweep"):
        print("\n".join(sweep_table(r)))
    if "ensemble" in r:
        print()
        print("\n".join(ensemble_table(r)))
    if "bars_ensemble" in r:
        print()
        print(json.dumps(r["bars_ensemble"], indent=1))
    if "bars" in r:
        print()
        print(json.dumps(r["bars"], indent=1))


if __name__ == "__main__":
    main()
