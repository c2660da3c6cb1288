"""Markdown tables for docs/diffusion.md from the JSON that benchmarks/diffusion.py writes.

    .venv/bin/python benchmarks/render_diffusion_table.py [SUFFIX]   # SUFFIX: the benchmark's --suffix
    .venv/bin/python benchmarks/render_diffusion_table.py --curve [PREFIX]   # agreement and FD per guidance scale
    .venv/bin/python benchmarks/render_diffusion_table.py --curve _s6000 --draws 1.5   # each draw at s = 1.5
    .venv/bin/python benchmarks/render_diffusion_table.py --curve _s6000 --start stratified   # --stratify MT rows
    .venv/bin/python benchmarks/render_diffusion_table.py --curve _s6000_n5000 --samples 5000 --teacher-forcing 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


def fmnist(res: dict) -> str:
    lines = [f"Fashion-MNIST, {res['samples']} samples per model (DDIM, 50 steps), {res['steps']} training steps "
             f"each; judge: a CNN trained on the real training images, {100 * res['judge']['test_accuracy']:.1f}% "
             f"test accuracy. Frechet distance on the judge's 128-d features against the test images; the same "
             f"distance between {res['samples']} real training and test images is {res['fd_train_vs_test']:.2f}.",
             "", "| model | schedule | guidance | params | label agreement % | (last-step label) | macro precision % | "
             "macro recall % | Frechet distance | train steps/s | 64 samples, DDIM 50 (s) | code |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res["models"].items():
        last = r.get("agreement_last_step_label")
        last = f"{100 * last:.1f}" if last is not None else "given"
        proc = r["config"]["process"]
        sched = "-" if r["config"]["class_conditional"] else \
            f"{proc['weight_schedule']}, gamma {'/'.join(f'{g:g}' for g in proc['gammas'])}"
        if r["config"].get("reader_subtract"):
            sched += ", reader subtracts"
        elif r["config"].get("label_reader"):
            sched += ", label reader"
        if r["config"].get("teacher_forcing"):
            sched += f", teacher forcing {r['config']['teacher_forcing']:g}"
        if r["config"].get("class_dropout"):
            sched += f", class dropout {r['config']['class_dropout']:g}"
        lines.append(f"| {name} | {sched} | {r.get('guidance', 1):g} | {r['params'] / 1e6:.2f} M | "
                     f"{100 * r['agreement']:.1f} | {last} | "
                     f"{100 * r['macro_precision']:.1f} | {100 * r['macro_recall']:.1f} | {r['fd']:.2f} | "
                     f"{r['train']['steps_per_second']:.2f} | {r['sample_seconds_64_ddim50']:.1f} | {r['commit']} |")
    given = res["models"]["mt-diffusion"].get("agreement_label_given")
    if given is not None:
        lines += ["", f"MT-Diffusion conditioned on a given label (its encoding inserted by the sampler, not "
                      f"generated): {100 * given:.1f}% agreement."]
    ratios = res["fd_ratio_mt_over_baseline"]
    ratios = ratios if isinstance(ratios, dict) else {"1": ratios}  # files written before guidance: one ratio
    lines += ["", "Frechet distance ratio, MT-Diffusion / class-conditional: " +
              ", ".join(f"{r:.3f} (guidance {s})" for s, r in ratios.items()),
              "", "Per class (MT-Diffusion; the judge's label taken as the truth):", "",
              "| class | generated | precision % | recall % |", "|---|---|---|---|"]
    mt = res["models"]["mt-diffusion"]
    for k in range(10):
        lines.append(f"| {k} | {mt['generated_label_counts'][k]} | {100 * mt['precision'][k]:.1f} | "
                     f"{100 * mt['recall'][k]:.1f} |")
    return "\n".join(lines)


def read_draws(paths, start: str = "iid", samples: int = 1000, teacher_forcing: float = 0.0) -> dict:
    """(model, scale) -> {sampling seed: (agreement, fd)} over the result files, model "mt" or "base"; a draw
    repeated in two files counts once. MT rows count only where their chains started as ``start`` says ("iid" or
    "stratified", the benchmark's --stratify; rows written before it existed are "iid"), and only files of
    ``samples`` generated images per model count (FD's bias and spread shrink with more); MT rows count only for
    the model trained with this ``teacher_forcing`` share (rows written before it existed: 0)."""
    cells: dict = {}
    for path in paths:
        res = json.loads(path.read_text())
        if res["samples"] != samples:
            continue
        for name, r in res["models"].items():
            model = "mt" if name.startswith("mt-diffusion") else "base"
            if model == "mt" and (r.get("start_labels", "iid") != start
                                  or r["config"].get("teacher_forcing", 0.0) != teacher_forcing):
                continue
            # files written before --sample-seed existed were all drawn with the benchmark's default seed, 1000
            seed = res.get("sample_seed", 1000)
            cells.setdefault((model, r.get("guidance", 1)), {})[seed] = (r["agreement"], r["fd"])
    return cells


def guidance_curve(paths, start: str = "iid", samples: int = 1000, teacher_forcing: float = 0.0) -> str:
    """Agreement and Frechet distance against the guidance scale for both models, each cell the median over the
    sampling draws (seeds) measured at that scale, from the given diffusion_fmnist*.json files; and, for each MT
    point, the baseline's FD at the same agreement, interpolated linearly between the two baseline scales whose
    median agreements bracket it (blank where none do)."""
    med = {k: (statistics.median(a for a, _ in v.values()), statistics.median(f for _, f in v.values()), len(v))
           for k, v in read_draws(paths, start, samples, teacher_forcing).items()}
    base = sorted((a, f) for (m, _), (a, f, _) in med.items() if m == "base")

    def base_fd_at(agreement: float):
        for (a0, f0), (a1, f1) in zip(base, base[1:]):
            if a0 <= agreement <= a1 and a1 > a0:
                return f0 + (f1 - f0) * (agreement - a0) / (a1 - a0)
        return None

    lines = ["| guidance s | MT agreement % | MT FD | baseline agreement % | baseline FD | FD ratio, same s | "
             "baseline FD at MT's agreement (interpolated) | FD ratio, same agreement | draws (MT / baseline) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in sorted({s for _, s in med}):
        mt, bs = med.get(("mt", s)), med.get(("base", s))
        if not mt or not bs:
            continue
        at = base_fd_at(mt[0])
        lines.append(f"| {s:g} | {100 * mt[0]:.1f} | {mt[1]:.2f} | {100 * bs[0]:.1f} | {bs[1]:.2f} | "
                     f"{mt[1] / bs[1]:.2f} | {'-' if at is None else f'{at:.2f}'} | "
                     f"{'-' if at is None else f'{mt[1] / at:.2f}'} | {mt[2]} / {bs[2]} |")
    return "\n".join(lines)


def draws_table(paths, scale: float, start: str = "iid", samples: int = 1000, teacher_forcing: float = 0.0) -> str:
    """One row per sampling draw (seed) at guidance ``scale``, both models and their FD ratio, then the medians."""
    cells = read_draws(paths, start, samples, teacher_forcing)
    mt, base = cells.get(("mt", scale), {}), cells.get(("base", scale), {})
    lines = ["| sampling seed | MT agreement % | MT FD | baseline agreement % | baseline FD | FD ratio MT / baseline |",
             "|---|---|---|---|---|---|"]
    seeds = sorted(mt.keys() & base.keys())
    cols = [(*mt[seed], *base[seed], mt[seed][1] / base[seed][1]) for seed in seeds]
    for seed, c in zip(seeds, cols):
        lines.append(f"| {seed} | {100 * c[0]:.1f} | {c[1]:.2f} | {100 * c[2]:.1f} | {c[3]:.2f} | {c[4]:.2f} |")
    if cols:
        m = [statistics.median(c) for c in zip(*cols)]
        lines.append(f"| median | **{100 * m[0]:.1f}** | {m[1]:.2f} | {100 * m[2]:.1f} | {m[3]:.2f} | **{m[4]:.2f}** |")
    return "\n".join(lines)


def mask(res: dict) -> str:
    return "\n".join([
        f"ETH-80 64 px image + mask, {res['samples']} samples, {res['steps']} training steps "
        f"({res['train']['steps_per_second']:.2f} steps/s); segmenter IoU on held-out objects "
        f"{res['segmenter']['heldout_iou']:.3f}.", "",
        "| IoU(generated mask, segmenter's mask of the generated image) mean | median | generated foreground share | "
        "real foreground share | 64 samples, DDIM 50 (s) | code |", "|---|---|---|---|---|---|",
        f"| {res['iou_mean']:.3f} | {res['iou_median']:.3f} | {res['generated_foreground_share']:.3f} | "
        f"{res['real_foreground_share']:.3f} | {res['sample_seconds_64_ddim50']:.1f} | {res['commit']} |"])


def masked(res: dict) -> str:
    lines = [f"Masked-image reconstruction: {res['squares']} hidden squares of {res['side']} px per 64 px image; "
             f"{res['steps']} training steps per model; scores on the filled images.", "",
             "| set | model / output | PSNR dB | SSIM | perceptual (EfficientNet-Lite0, lower is better) | steps/s |",
             "|---|---|---|---|---|---|"]
    for name, rows in res["sets"].items():
        for k, r in rows.items():
            lines.append(f"| {name} | {k} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['perceptual']:.4f} | "
                         f"{r['train']['steps_per_second']:.2f} |")
    lines += [""]
    for name, rows in res["sets"].items():
        base = rows.get("reconstruction-only/decoder")
        for k, r in rows.items():
            if k.startswith("mt-diffusion/") and base:
                ratio = base["perceptual"] / r["perceptual"]
                how = f"{ratio:.2f}x lower" if ratio >= 1 else f"{1 / ratio:.2f}x higher"
                lines.append(f"- {name}, {k}: perceptual distance {how} than reconstruction-only "
                             f"({r['perceptual']:.4f} vs {base['perceptual']:.4f})")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suffix", nargs="?", default="", help="the benchmark's --suffix, e.g. _guidance")
    ap.add_argument("--curve", nargs="?", const="_guidance", default=None, metavar="PREFIX",
                    help="agreement and FD per guidance scale (median over draws) from every "
                         "diffusion_fmnist<PREFIX>*.json (PREFIX: _guidance unless given, e.g. _s6000)")
    ap.add_argument("--draws", type=float, metavar="SCALE",
                    help="one row per sampling draw at this guidance scale instead of the curve (files as --curve)")
    ap.add_argument("--start", choices=("iid", "stratified"), default="iid",
                    help="--curve / --draws: the MT rows whose start labels were drawn so (the benchmark's --stratify)")
    ap.add_argument("--samples", type=int, default=1000,
                    help="--curve / --draws: the files with this many generated images per model")
    ap.add_argument("--teacher-forcing", type=float, default=0.0,
                    help="--curve / --draws: the MT model trained with this teacher-forcing share")
    args = ap.parse_args(argv)
    if args.draws is not None and args.curve is None:
        args.curve = "_guidance"
    suffix = args.suffix
    if args.curve is not None:
        paths = sorted(RESULTS.glob(f"diffusion_fmnist{args.curve}*.json"))
        if not paths:
            print(f"no docs/results/diffusion_fmnist{args.curve}*.json; run benchmarks/diffusion.py --guidance "
                  f"--suffix {args.curve} first", file=sys.stderr)
            return 1
        mt = (args.start, args.samples, args.teacher_forcing)
        print(guidance_curve(paths, *mt) if args.draws is None else draws_table(paths, args.draws, *mt))
        return 0
    found = False
    for name, fn in (("fmnist", fmnist), ("mask", mask), ("masked", masked)):
        path = RESULTS / f"diffusion_{name}{suffix}.json"
        if path.exists():
            found = True
            print(fn(json.loads(path.read_text())))
            print()
    if not found:
        print("no docs/results/diffusion_*.json; run benchmarks/diffusion.py first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
