"""Markdown tables for docs/fusion.md from the JSON that benchmarks/fusion.py writes.

    .venv/bin/python benchmarks/render_fusion_table.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"
METHODS = ("concat", "mean", "max", "attention", "gated")


def pm(d: dict, scale: float = 100.0, digits: int = 1) -> str:
    return f"{d['mean'] * scale:.{digits}f} ± {d['std'] * scale:.{digits}f}"


def eth80(res: dict) -> str:
    lines = []
    for variant, title in (("pooled", "pooled embeddings (encoder -> MIVC -> projection)"),
                           ("qg", "query generator (encoder -> 8 queries -> MIVC per query -> projection)")):
        rows = [(m, res["runs"].get(f"{variant}/{m}")) for m in METHODS]
        rows = [(m, r) for m, r in rows if r]
        if not rows:
            continue
        folds = res["folds"][variant] if isinstance(res["folds"], dict) else res["folds"]
        commits = sorted({r.get("commit", "3727fee (before c8f134d)") for _, r in rows})
        seeds = sorted({r.get("seeds", 1) for _, r in rows})
        per = f" (each fold the mean of {'/'.join(map(str, seeds))} seeds)" if seeds != [1] else ""
        lines += [f"**{title}**, mean ± std over {folds} folds of held-out objects{per}; code: {', '.join(commits)}",
                  "",
                  "| method | accuracy % | attr P % | attr R % | attr F1 % | attr macro-F1 % | BLEU-4 | CIDEr-D |",
                  "|---|---|---|---|---|---|---|---|"]
        for m, r in rows:
            lines.append(f"| {m} | {pm(r['accuracy'])} | {pm(r['attr_precision'])} | {pm(r['attr_recall'])} | "
                         f"{pm(r['attr_f1'])} | {pm(r['attr_macro_f1'])} | {pm(r['bleu4'], 1)} | "
                         f"{pm(r['cider'], 1, 2)} |")
        lines += ["", "accuracy % by bag size (mean over folds)", "",
                  "| method | " + " | ".join(str(s) for s in range(2, 9)) + " |", "|---" * 8 + "|"]
        for m, r in rows:
            lines.append(f"| {m} | " + " | ".join(f"{100 * r['accuracy_by_size'][str(s)]['mean']:.1f}"
                                                 for s in range(2, 9)) + " |")
        lines += ["", "attribute F1 % by bag size (mean over folds)", "",
                  "| method | " + " | ".join(str(s) for s in range(2, 9)) + " |", "|---" * 8 + "|"]
        for m, r in rows:
            lines.append(f"| {m} | " + " | ".join(f"{100 * r['attr_f1_by_size'][str(s)]['mean']:.1f}"
                                                 for s in range(2, 9)) + " |")
        lines.append("")
        base = dict(rows).get("concat")
        if base:
            for m in ("attention", "gated"):
                r = dict(rows).get(m)
                if r:
                    for k, label in (("accuracy", "accuracy"), ("attr_f1", "attribute F1")):
                        gap = r[k]["mean"] - base[k]["mean"]
                        spread = max(r[k]["std"], base[k]["std"])
                        paired = [a - b for a, b in zip(r[k]["values"], base[k]["values"], strict=True)]
                        p_mean = sum(paired) / len(paired)
                        p_std = (sum((x - p_mean) ** 2 for x in paired) / max(1, len(paired) - 1)) ** 0.5
                        verdict = "beats" if gap > spread else "does NOT beat"
                        lines.append(f"- {variant}/{m} {verdict} concat on {label} by more than the fold spread: "
                                     f"{100 * gap:+.1f} points vs spread {100 * spread:.1f} (paired by fold: "
                                     f"{100 * p_mean:+.1f} ± {100 * p_std:.1f}, better in "
                                     f"{sum(x > 0 for x in paired)}/{len(paired)} folds)")
                        if "seed_spread" in r and "seed_spread" in base:
                            s_spread = max(r["seed_spread"][k], base["seed_spread"][k])
                            pairs = [a - b for fa, fb in zip(r["per_seed"][k], base["per_seed"][k], strict=True)
                                     for a, b in zip(fa, fb, strict=True)]
                            verdict = "beats" if gap > s_spread else "does NOT beat"
                            lines.append(f"- {variant}/{m} {verdict} concat on {label} by more than the seed-to-seed "
                                         f"spread: {100 * gap:+.1f} points vs {100 * s_spread:.1f} (within-fold std "
                                         f"over {r['seeds']} seeds, pooled over folds; better in "
                                         f"{sum(x > 0 for x in pairs)}/{len(pairs)} fold-seed pairs)")
            lines.append("")
    return "\n".join(lines)


def throughput(res: dict) -> str:
    lines = [f"bag of {res['bag_size']} views at {res['image_size']} px, {res['threads']} threads, p50 ms", "",
             "| variant / fusion | encoder (8 images) | fusion | fusion / encoder | all after encoder | items/s |",
             "|---|---|---|---|---|---|"]
    for k, v in res.items():
        if isinstance(v, dict):
            lines.append(f"| {k} | {res['encoder_ms']:.1f} | {v['fusion_ms']:.3f} | "
                         f"{100 * v['fusion_share_of_encoder']:.2f} % | {v['after_encoder_ms']:.2f} | "
                         f"{v['items_per_s']:.2f} |")
    if "concat_ms" in res:
        lines.append(f"| concat baseline (tile 8 views, encode 1 grid, model) | - | - | - | - | "
                     f"{res['concat_items_per_s']:.2f} |")
    return "\n".join(lines)


def flickr(res: dict) -> str:
    lines = [f"{res['train_images']} training images x 5 captions, {res['test_images']} test images x 5 "
             f"references, vocabulary {res['vocab']} word pieces", "", "| decoder | BLEU-4 | CIDEr-D |",
             "|---|---|---|",
             f"| nearest training image's caption | {res['nearest_neighbour']['bleu4']:.1f} | "
             f"{res['nearest_neighbour']['cider']:.3f} |"]
    for key in ("greedy", "beam3"):
        if key in res:
            n = len(res[key]["bleu4"]["values"])
            lines.append(f"| MIVC pipeline, {key} ({n} seeds) | {pm(res[key]['bleu4'], 1)} | "
                         f"{pm(res[key]['cider'], 1, 3)} |")
    return "\n".join(lines)


def main() -> int:
    for name, fn in (("fusion_eth80.json", eth80), ("fusion_throughput.json", throughput),
                     ("fusion_flickr8k.json", flickr)):
        path = RESULTS / name
        if path.exists():
            print(f"### {name}\n")
            print(fn(json.loads(path.read_text())))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
