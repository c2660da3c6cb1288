"""Render results/xmr/kernel_bounds.json (benchmarks/xmr_kernel_bounds.py) as the tables in docs/xmr.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render(path: Path) -> str:
    res = json.loads(path.read_text())
    rows = res["rows"]
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    sizes = sorted({r["vector_kb"] for r in rows})
    out = ["ns per non-zero (per child for x8) against the bytes of the gathered vector(s), median of "
           f"{res['repeats']} sweeps over {res['rows_per_sweep']:,} rows of {res['nnz_per_row']} non-zeros:\n",
           "| kernel | " + " | ".join(f"{kb:,} KB" for kb in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for k in kernels:
        by = {r["vector_kb"]: r["ns_per_nnz_per_child"] for r in rows if r["kernel"] == k}
        out.append(f"| {k} | " + " | ".join(f"{by[kb]:.2f}" for kb in sizes) + " |")
    out.append("\nWorking sets of the real sets' parents (distinct local features, weighted by the parent's share "
               "of its level's work; KB of the one-child vector / of the 8 interleaved):\n")
    out.append("| set | level | parents | p10 | p50 | p90 |")
    out.append("|---|---|---|---|---|---|")
    for name, levels in res.get("working_sets", {}).items():
        for lv in levels:
            q, a, b = lv["features_per_parent_work_weighted"], lv["vector_kb_x1"], lv["vector_kb_x8"]
            out.append(f"| {name} | {lv['level']} | {lv['parents']:,} | " + " | ".join(
                f"{q[p]:,} ({a[p]:,.0f} / {b[p]:,.0f} KB)" for p in ("p10", "p50", "p90")) + " |")
    out.append(f"\nCommand: `{res['command']}` (code at {res['commit']})")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(Path(sys.argv[1] if len(sys.argv) > 1 else "results/xmr/kernel_bounds.json")))
