"""Render results/xmr/vs_peers.json as the markdown tables in docs/xmr.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLS = [("P@1", "P@1"), ("P@3", "P@3"), ("P@5", "P@5"), ("PSP@1", "PSP@1"), ("PSP@3", "PSP@3"), ("PSP@5", "PSP@5"),
        ("R@10", "R@10"), ("R@100", "R@100"),
        ("train_s", "train s"), ("batch_ms_per_query", "batch ms/q"), ("single_p50_ms", "1-query p50 ms"),
        ("single_p99_ms", "1-query p99 ms"), ("model_mb", "model MB"), ("peak_rss_mb", "peak RSS MB"),
        ("import_rss_mb", "RSS after import MB")]


def _cell(m: dict, c: str) -> str:
    if c not in m:
        return "-"
    return f"{m[c]:.3f}" if "ms" in c else f"{m[c]:.2f}"


def render(path: Path) -> str:
    res = json.loads(path.read_text())
    out = []
    for name, r in res.items():
        info = r["info"]
        kind = " — GENERATED data, not a real result" if info.get("generated") else ""
        out.append(f"### {name}{kind} ({info['n_train']:,} train, {info['n_test']:,} test, "
                   f"{info['n_labels']:,} labels, "
                   f"{info['n_features']:,} features; medians of {max(m['runs'] for m in r['median'].values())} "
                   f"seeds, {r['threads']} threads)\n")
        out.append("| library | " + " | ".join(h for _, h in COLS) + " |")
        out.append("|---" * (len(COLS) + 1) + "|")
        for lib, m in r["median"].items():
            out.append(f"| {lib} | " + " | ".join(_cell(m, c) for c, _ in COLS) + " |")
        p = r["median"].get("polymodal")
        q = r["median"].get("libpecos")
        if p and q:
            out.append("")
            out.append("polymodal / libpecos: " + ", ".join(
                f"{h} {p[c] / q[c]:.2f}x" for c, h in COLS[8:13]) + "; peak RSS "
                f"{p['peak_rss_mb'] / q['peak_rss_mb']:.2f}x; P@1/3/5 difference " + ", ".join(
                f"{p[c] - q[c]:+.2f}" for c in ("P@1", "P@3", "P@5")) + " points; PSP@1/3/5 difference " + ", ".join(
                f"{p[c] - q[c]:+.2f}" for c in ("PSP@1", "PSP@3", "PSP@5")) + " points.")
        if p and "e2e_p50_ms" in p:
            out.append(f"polymodal end-to-end text -> top-10 (vectorise + beam search, loaded model): "
                       f"p50 {p['e2e_p50_ms']:.3f} ms, p99 {p['e2e_p99_ms']:.3f} ms.")
        at = f" (code at {r['commit']})" if r.get("commit") else ""
        out.append(f"\nCommand: `{r['command']}`{at}\n")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(Path(sys.argv[1] if len(sys.argv) > 1 else "results/xmr/vs_peers.json")))
