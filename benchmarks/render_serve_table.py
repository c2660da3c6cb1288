"""Splice the serve load table (results/serve/*.json, written by benchmarks/serve_load.py) into docs/serve.md,
between the ``<!-- serve-load -->`` markers.

    .venv/bin/python benchmarks/render_serve_table.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["c200-noshed", "c200", "c50-slow1000"]


def row(name: str) -> str:
    d = json.loads((ROOT / "results" / "serve" / f"{name}.json").read_text())
    c, m = d["config"], d["median"]
    shed = [r["shed"]["p99_ms"] for r in d["runs"] if "shed" in r]
    slow = [r["slow_clients"]["median_hold_s"] for r in d["runs"] if r.get("slow_clients")]
    return (f"| `{name}` | {c['concurrency']} | {c['slow_clients']} | {' '.join(c['server_args']) or 'defaults'} | "
            f"{m['requests_per_s']:,.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['max_ms']:.1f} | "
            f"{m['shed_503_total']:,} | {max(shed) if shed else '-'} | {m['errors_total']} | "
            f"{min(slow) if slow else '-'} | {c['commit'][:7]} |")


def main() -> None:
    head = ("| results/serve/ | connections | slow clients | server flags | answers/s | p50 ms | p99 ms | max ms | "
            "503 shed | shed p99 ms | errors | slow hold s | commit |\n|" + "---|" * 13)
    table = "\n".join([head] + [row(n) for n in NAMES if (ROOT / "results" / "serve" / f"{n}.json").exists()])
    doc = ROOT / "docs" / "serve.md"
    text = doc.read_text()
    block = f"<!-- serve-load -->\n{table}\n<!-- /serve-load -->"
    if "<!-- serve-load -->" in text:
        text = re.sub(r"<!-- serve-load -->.*?<!-- /serve-load -->", lambda _: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    doc.write_text(text)


if __name__ == "__main__":
    main()
