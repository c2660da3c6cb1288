"""Markdown tables for docs/autocomplete.md from ``benchmarks/autocomplete.py``'s JSON.

    .venv/bin/python benchmarks/render_autocomplete_table.py docs/results/autocomplete.json
"""

from __future__ import annotations

import json
import sys

BUCKETS = ["1", "2", "3", "4-6", "7+"]
FREQ = ["unseen", "1", "2-5", "6-20", "21+"]


def by_group(rows: list[dict], mpc: dict, group: str, buckets: list[str], title: str) -> None:
    print(title)
    print()
    n = {b: mpc[f"by_{group}"][b]["n"] for b in buckets}
    print("| variant | " + " | ".join(f"{b} ({n[b]})" for b in buckets) + " |")
    print("|---|" + "---|" * len(buckets))
    for r in rows + [{"variant": "MPC", "xr": mpc}]:
        by = r["xr"][f"by_{group}"]
        print(f"| {r['variant']} | " + " | ".join(f"{by[b]['MRR@10']:.4f}" for b in buckets) + " |")
    print()


def main() -> None:
    d = json.load(open(sys.argv[1]))
    rows = d["variants"]
    mpc = rows[0]["mpc"]
    print("| variant | MRR@10 | x MPC | success@1 | success@10 | BLEU-rw | p50 ms | p99 ms | train s | model MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        x, lat = r["xr"], r["latency"]
        print(f"| {r['variant']} | {x['MRR@10']:.4f} | {x['MRR@10'] / mpc['MRR@10']:.3f} | {x['success@1']:.4f} | "
              f"{x['success@10']:.4f} | {x['bleu_rw']:.4f} | {lat['p50_ms']:.3f} | {lat['p99_ms']:.3f} | "
              f"{r['train_s']:.1f} | {r['model_mb']:.1f} |")
    print(f"| MPC | {mpc['MRR@10']:.4f} | 1.000 | {mpc['success@1']:.4f} | {mpc['success@10']:.4f} | "
          f"{mpc['bleu_rw']:.4f} | | | | |")
    print()
    by_group(rows, mpc, "prefix_length", BUCKETS, "MRR@10 by prefix length (characters typed; requests per bucket "
             "in the header):")
    by_group(rows, mpc, "label_frequency", FREQ, "MRR@10 by the target's training frequency (unseen = not a label: "
             "a miss for every method):")
    paired = [r for r in rows if "xr_minus_mpc" in r]
    if paired:
        print("XR minus MPC in reciprocal rank (MRR x 100), paired per request; 95 % bootstrap interval resampling "
              "all requests of one target query together; requests where XR / MPC ranks the target higher:")
        print()
        print("| variant | " + " | ".join(["all"] + BUCKETS) + " |")
        print("|---|" + "---|" * (len(BUCKETS) + 1))
        for r in paired:
            p = r["xr_minus_mpc"]
            print(f"| {r['variant']} | " + " | ".join(
                f"{p[b]['diff']:+.2f} [{p[b]['ci95'][0]:+.2f}, {p[b]['ci95'][1]:+.2f}]; "
                f"{p[b]['xr_better']} / {p[b]['mpc_better']}" for b in ["all"] + BUCKETS) + " |")
        print()
    if d.get("libpecos"):
        print()
        print("| same features + tree | MRR@10 polymodal | MRR@10 libpecos | relative difference | train s polymodal "
              "| train s libpecos |")
        print("|---|---|---|---|---|---|")
        for c in d["libpecos"]:
            print(f"| {c['variant']} | {c['MRR@10_polymodal']:.4f} | {c['MRR@10_libpecos']:.4f} | "
                  f"{100 * c['relative_diff']:+.2f} % | {c['train_s_polymodal']:.1f} | {c['train_s_libpecos']:.1f} |")


if __name__ == "__main__":
    main()
