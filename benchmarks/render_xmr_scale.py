"""Render results/xmr/scale.json as the scale tables of docs/xmr.md.

    .venv/bin/python benchmarks/render_xmr_scale.py                     # print
    .venv/bin/python benchmarks/render_xmr_scale.py --splice docs/xmr.md  # rewrite the marked block in place

The block sits between ``<!-- begin xmr_scale -->`` and ``<!-- end xmr_scale -->``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- begin xmr_scale -->", "<!-- end xmr_scale -->"
SERVE = [("load_s", "load s", 3), ("rss_after_load_mb", "RSS after load MB", 0), ("P@1", "P@1", 2),
         ("P@3", "P@3", 2), ("P@5", "P@5", 2), ("PSP@1", "PSP@1", 2), ("PSP@3", "PSP@3", 2), ("PSP@5", "PSP@5", 2),
         ("batch_ms_per_query", "batch ms/q", 3), ("single_p50_ms", "1-query p50 ms", 3),
         ("single_p99_ms", "1-query p99 ms", 3)]


def _f(v, nd):
    return "" if v is None else f"{v:,.{nd}f}"


def render(res: dict) -> str:
    out = []
    order = {s: i for i, s in enumerate(["tiny", "bow", "bow-M", "S", "M", "L"])}
    for size in sorted(res["datasets"], key=lambda s: order.get(s, 99)):
        d = res["datasets"][size]
        rows = [r for r in res["rows"] if r["size"] == size]
        out.append(f"#### `{size}` (GENERATED: {d['n_labels']:,} labels, {d['n_train']:,} train / {d['n_test']:,} "
                   f"test rows, {d['n_features']:,} features, {d['labels_per_row']:.2f} labels per row, label "
                   f"power law measured {d['exponent_measured']:.3f} for a = {d['config']['exponent']}; "
                   f"X + Y {d['X_mb'] + d['Y_mb']:,.0f} MB in memory)\n")
        out.append("| library | serving | train s | train peak RSS MB | model MB | " +
                   " | ".join(h for _, h, _ in SERVE) + " |")
        out.append("|---" * (5 + len(SERVE)) + "|")
        by = {}
        for r in rows:
            tr = r["train"]
            if tr["status"] != "ok":
                seen = tr.get("peak_rss_mb_seen")
                out.append(f"| {r['lib']} | {tr['status']}, last stage: {tr.get('last_stage')}, "
                           f"{tr['wall_s']:.0f} s, peak RSS seen {seen:,.0f} MB |" + " |" * (3 + len(SERVE)))
                continue
            for lay, sv in r["serve"].items():
                mb = tr.get("model_mb_mmap") if lay == "mmap" else tr.get("model_mb")
                cells = [_f(sv.get(c), nd) for c, _, nd in SERVE] if sv["status"] == "ok" else \
                    [sv["status"]] + [""] * (len(SERVE) - 1)
                out.append(f"| {r['lib']} | {lay} | {tr['train_s']:,.1f} | {tr['train_peak_rss_mb']:,.0f} | "
                           f"{mb:,.1f} | " + " | ".join(cells) + " |")
                by[(r["lib"], lay)] = (tr, sv)
        p, q = by.get(("polymodal", "mmap")), by.get(("libpecos", "default"))
        if p and q:
            pt, ps = p
            qt, qs = q
            out.append("")
            out.append(f"polymodal / libpecos: train s {pt['train_s'] / qt['train_s']:.2f}x, train peak RSS "
                       f"{pt['train_peak_rss_mb'] / qt['train_peak_rss_mb']:.2f}x; P@1/3/5 difference " +
                       ", ".join(f"{ps[c] - qs[c]:+.2f}" for c in ("P@1", "P@3", "P@5")) + " points.")
        sh = res.get("sharing", {}).get(size)
        if sh and p:
            one, two = sh["1"], sh["2"]
            mb_mmap = p[0]["model_mb_mmap"]
            grew = p[1]["load_rss_mb"]
            out.append(f"Memory-mapped model ({mb_mmap:,.0f} MB file): RSS right after load "
                       f"{grew:.1f} MB above the bare process ({100 * grew / mb_mmap:.1f}% "
                       f"of the file); after answering the {d['n_test']:,} test rows one process has RSS "
                       f"{one['rss_mb'][0]:,.0f} MB, two processes together PSS {two['pss_total_mb']:,.0f} MB = "
                       f"{two['pss_total_mb'] / one['rss_mb'][0]:.2f}x one (RSS each {two['rss_mb'][0]:,.0f} and "
                       f"{two['rss_mb'][1]:,.0f} MB: the mapped pages are counted in both).")
        out.append("")
    g = res.get("growth_exponent", {})
    if g.get("train_s"):
        out.append("Growth exponent b of `train s ~ labels^b` (least squares over the sizes above): " +
                   ", ".join(f"{lib} {b:.2f}" for lib, b in sorted(g["train_s"].items())) +
                   "; of training peak RSS: " +
                   ", ".join(f"{lib} {b:.2f}" for lib, b in sorted(g.get("train_peak_rss_mb", {}).items())) + ".")
        out.append("")
    out.append(f"Command: `{res['command']}` (code at {res['commit']}; {res['environment'].get('cpu', '')}, "
               f"{res['environment'].get('cores')} cores). Plot: `results/xmr/scale.png`.")
    return "\n".join(out)


def splice(doc: Path, block: str) -> None:
    text = doc.read_text()
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(text[:a] + "\n" + block + "\n" + text[b:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", type=Path, default=ROOT / "results/xmr/scale.json")
    ap.add_argument("--splice", type=Path)
    args = ap.parse_args()
    block = render(json.loads(args.results.read_text()))
    if args.splice:
        splice(args.splice, block)
    else:
        print(block)


if __name__ == "__main__":
    main()
