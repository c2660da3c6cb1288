"""MT-Diffusion experiments, sized for a 2-core CPU (each part well under 30 minutes with the defaults; more steps
and --device cuda for larger runs):

  fmnist  joint image + label generation on Fashion-MNIST (28 px) vs a class-conditional single-task diffusion
          model of the same size: agreement of each generated label with an independent classifier's label of the
          generated image (precision / recall per class), Frechet distance on that classifier's features
  fmnist-floor  the Frechet distance of real training subsets (i.i.d. and class-stratified) to the same test
          images: the floor of the fmnist part's FD, and what multinomial class counts add to it
  mask    joint image + segmentation-mask generation on ETH-80 (64 px): IoU between each generated mask and an
          independent segmenter's mask of the generated image; a PNG grid
  masked  masked-image reconstruction (square masks) on ETH-80 and ISBI 2012 crops: MT-Diffusion trained jointly
          on generation and reconstruction vs the same network trained on reconstruction only; PSNR, SSIM and an
          LPIPS-style distance on EfficientNet-Lite0 features, on the hidden squares filled into the known pixels
  masked-references  the same squares and scores for fills that need no training: mid-grey, the mean of the known
          pixels, biharmonic inpainting (scikit-image), and real texture blind to the truth (the same squares of
          another held-out image). Where the 2x perceptual bar lies against these tells what it asks of a fill

    .venv/bin/python benchmarks/diffusion.py                       # all -> docs/results/diffusion_*.json + PNGs
    .venv/bin/python benchmarks/diffusion.py --only fmnist --steps 300 --samples 256   # a quick look

Every part also reports training steps per second and the time to sample 64 images with DDIM at 50 steps.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from entry import run
from polymodal.diffusion.data import hide, square_masks
from polymodal.diffusion.evaluators import Classifier, Segmenter, predict, train_classifier, train_segmenter
from polymodal.diffusion.metrics import PerceptualDistance, frechet_distance, iou, label_agreement, psnr, ssim
from polymodal.diffusion.model import LossWeights, MTConfig, MTDiffusion, load_mt, save_mt, stratified_labels
from polymodal.diffusion.sheet import contact_sheet
from polymodal.diffusion.tasks import task_config, task_data
from polymodal.diffusion.train import reconstruct_directly, train
from polymodal.training import load_module, save_module
from provenance import commit, environment, write_json

ROOT = Path(__file__).resolve().parent.parent


def cached_module(folder: Path, fmt: str, build, make):
    """Load a trained judge (classifier / segmenter) from ``folder``, or train and save it."""
    if (folder / "config.json").exists():
        return load_module(folder, fmt, lambda cfg: build(**cfg))[0], json.loads((folder / "info.json").read_text())
    model, cfg, info = make()
    save_module(folder, model, cfg, fmt)
    (folder / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    return model, info


def config_hash(config: dict) -> str:
    """8 hex digits naming a model config in the cache: every setting gets its own folder."""
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]


def trained(args, key: str, cfg, tensors: dict, batch_size: int, **kw) -> tuple[MTDiffusion, dict]:
    """Train a model (seed 0) and keep it under --cache (config + safetensors + info.json), or load the kept one
    when it was trained with the same config (named by its hash), steps, batch size and learning rate."""
    written = json.loads(json.dumps(cfg.to_dict()))  # the config as config.json will hold it
    on = "" if args.device == "cpu" else f"-{args.device}"  # other hardware, other weights: cached apart
    folder = args.cache / f"{key}-{config_hash(written)}-s{args.steps}-b{batch_size}-lr{args.lr:g}{on}"
    if (folder / "info.json").exists():
        # the saved config as written, not as rebuilt: a field added since would take its new default and match
        # (only the declared late fields, at their defaults, are left out on both sides: MTConfig.canonical)
        if MTConfig.canonical(json.loads((folder / "config.json").read_text())["config"]) == written:
            return load_mt(folder), json.loads((folder / "info.json").read_text())
    torch.manual_seed(0)
    model = MTDiffusion(cfg)
    info = train(model, tensors, args.steps, batch_size, args.lr, seed=0, progress=args.progress,
                 device=args.device, **kw)
    model.cpu()  # trained on --device; sampled and scored on the CPU like every other run
    info.update(commit=commit(), device=args.device)
    save_mt(folder, model)
    (folder / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    return model, info


def sampling_time(model: MTDiffusion, n: int = 64, steps: int = 50, **kw) -> float:
    t0 = time.perf_counter()
    model.generate(n, "ddim", steps, generator=torch.Generator().manual_seed(123), **kw)
    return time.perf_counter() - t0


def generate_many(model: MTDiffusion, n: int, steps: int, seed: int, chunk: int = 128, **kw) -> dict:
    parts = []
    for i in range(0, n, chunk):
        # per-item tensors, alone or in a dict (given / start), are cut to the chunk; everything else passes as is
        extra = {k: v[i: i + chunk] if torch.is_tensor(v)
                 else {m: t[i: i + chunk] for m, t in v.items()} if isinstance(v, dict) else v for k, v in kw.items()}
        m = min(chunk, n - i)
        parts.append(model.generate(m, "ddim", steps, generator=torch.Generator().manual_seed(seed + i), **extra))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


# Fashion-MNIST: joint image + label --------------------------------------------------------------------------------
def fmnist_judge(args, data) -> tuple[Classifier, dict]:
    """The independent classifier (trained on the real training images, kept under --cache) and its info."""
    x_tr, y_tr = data.train["image"], data.train["label"]
    x_te, y_te = data.test["image"], data.test["label"]

    def make_judge():
        t0 = time.perf_counter()
        m = train_classifier(x_tr, y_tr, 10, epochs=args.judge_epochs, progress=args.progress)
        acc = float((predict(m, x_te).argmax(-1) == y_te).float().mean())
        return m, {"in_channels": 1, "classes": 10}, {"test_accuracy": acc, "seconds": time.perf_counter() - t0,
                                                       "epochs": args.judge_epochs}

    judge, judge_info = cached_module(args.cache / f"fmnist-classifier-e{args.judge_epochs}",
                                      "polymodal-eval-classifier", Classifier, make_judge)
    print(f"fmnist judge: test accuracy {judge_info['test_accuracy']:.4f}", flush=True)
    return judge, judge_info


def judge_features(judge: Classifier, images: torch.Tensor) -> torch.Tensor:
    """The judge's 128-d penultimate features, the space of the Frechet distance."""
    return predict(judge, images, fn=lambda m, x: m.features(x))


def fmnist_floor(args, draws: int = 30) -> dict:
    """What the class mix alone does to a Frechet distance at this sample size: real training subsets of
    --samples images, drawn i.i.d. or stratified (exactly samples/10 per class), each against the test images
    the fmnist part scores against. The gap between the two is what multinomial class counts add, the noise an MT
    model's i.i.d. start labels carry and a baseline given arange(n) % 10 labels does not."""
    data = task_data("fmnist")
    judge, judge_info = fmnist_judge(args, data)
    n = args.samples
    real = judge_features(judge, data.test["image"][:n]).numpy()
    pool_y = data.train["label"][: 20 * n].numpy()
    pool = judge_features(judge, data.train["image"][: 20 * n]).numpy()
    rng = np.random.default_rng(args.sample_seed)
    by_class = [np.flatnonzero(pool_y == k) for k in range(10)]
    fd = {"iid": [], "stratified": []}
    for _ in range(draws):
        fd["iid"].append(frechet_distance(pool[rng.choice(len(pool), n, replace=False)], real))
        pick = np.concatenate([rng.choice(b, n // 10, replace=False) for b in by_class])
        fd["stratified"].append(frechet_distance(pool[pick], real))
    out = {"judge": judge_info, "samples": n, "draws": draws, "pool": len(pool), "fd": fd, "commit": commit(),
           "test_label_counts": np.bincount(data.test["label"][:n].numpy(), minlength=10).tolist()}
    for how, v in fd.items():
        out[f"{how}_median"], out[f"{how}_range"] = float(np.median(v)), [float(min(v)), float(max(v))]
        print(f"fmnist-floor {how}: FD median {np.median(v):.3f} ({min(v):.3f}-{max(v):.3f}) over {draws} subsets",
              flush=True)
    return out


def fmnist(args) -> dict:
    data = task_data("fmnist")
    x_tr = data.train["image"]
    x_te = data.test["image"]
    judge, judge_info = fmnist_judge(args, data)
    n = args.samples
    real_feats = judge_features(judge, x_te[:n]).numpy()
    floor = frechet_distance(judge_features(judge, x_tr[:n]).numpy(), real_feats)
    out = {"judge": judge_info, "samples": n, "fd_train_vs_test": floor, "models": {}}
    uniform = torch.arange(n) % 10
    weights = LossWeights(l0=1.0, l1=args.l1, l2=args.l2, l3=0.0)
    reader = "subtract" if args.reader_subtract else "condition" if args.label_reader else "none"
    models = (("mt-diffusion", task_config("fmnist", args.channels, args.gamma, weights, schedule=args.schedule,
                                           reader=reader, class_dropout=args.class_dropout,
                                           teacher_forcing=args.teacher_forcing)),
              ("class-conditional", task_config("fmnist", args.channels, baseline=True,
                                                class_dropout=args.class_dropout)))
    for name, cfg in models:
        if name not in args.fmnist_models:  # one model per process: two processes train both side by side
            continue
        model, info = trained(args, f"fmnist-{name}", cfg, data.train, args.batch_size)
        kw = {"label": uniform} if cfg.class_conditional else {}
        if args.stratify and not cfg.class_conditional:  # the MT model's start labels as balanced as the baseline's
            kw["start"] = {"label": stratified_labels(n, 10, torch.Generator().manual_seed(args.sample_seed))}
        for k, scale in enumerate(args.guidance):  # one row per guidance scale; "name" alone at the first scale
            key = name if k == 0 else f"{name} guidance {scale:g}"
            gen = generate_many(model, n, args.sample_steps, seed=args.sample_seed, guidance=scale, **kw)
            labels = gen["label"] if "label" in gen else uniform
            feats = judge_features(judge, gen["image"])  # one pass: features, then head
            judged = judge.head(feats).argmax(-1)
            row = {"train": info, "params": sum(p.numel() for p in model.parameters()), "guidance": scale,
                   "fd": frechet_distance(feats.numpy(), real_feats),
                   **label_agreement(labels.numpy(), judged.numpy(), 10),
                   "generated_label_counts": np.bincount(labels.numpy(), minlength=10).tolist(),
                   "start_labels": "given" if cfg.class_conditional else "stratified" if args.stratify else "iid",
                   "sample_seconds_64_ddim50": sampling_time(
                       model, guidance=scale, **({"label": torch.arange(64) % 10} if cfg.class_conditional else {})),
                   "config": cfg.to_dict(), "commit": commit()}
            if "label_final" in gen:  # the label decoder's reading at the last step only (clean image, lam ~ 0)
                row["agreement_last_step_label"] = float((gen["label_final"] == judged).float().mean())
            if "label_final" in gen and k == 0 and not args.skip_diagnostics:
                # diagnostic: the same model conditioned on a given label through its encoding (sampler's m_hat)
                cond = generate_many(model, n, args.sample_steps, seed=args.sample_seed, given={"label": uniform})
                row["agreement_label_given"] = float((predict(judge, cond["image"]).argmax(-1) == uniform)
                                                     .float().mean())
            out["models"][key] = row
            print(f"fmnist {key}: agreement {row['agreement']:.3f} FD {row['fd']:.2f} (floor {floor:.2f}) "
                  f"train {info['steps_per_second']:.2f} steps/s, 64 samples {row['sample_seconds_64_ddim50']:.0f} s",
                  flush=True)
            order = torch.argsort(labels[:80], stable=True)
            suffix = "" if k == 0 else f"_guidance{scale:g}"
            contact_sheet([gen["image"][:80][order][i: i + 16] for i in range(0, 80, 16)],
                          args.results / f"diffusion_fmnist_{name}{args.suffix}{suffix}.png")
    out["fd_ratio_mt_over_baseline"] = {}
    for k, scale in enumerate(args.guidance if len(args.fmnist_models) == 2 else []):
        key = "" if k == 0 else f" guidance {scale:g}"
        mt, base = out["models"]["mt-diffusion" + key], out["models"]["class-conditional" + key]
        out["fd_ratio_mt_over_baseline"][f"{scale:g}"] = mt["fd"] / base["fd"]
    return out


# ETH-80: joint image + mask -----------------------------------------------------------------------------------
def mask_task(args) -> dict:
    data = task_data("eth80-mask")
    img, mask = data.train["image"], data.train["mask"]
    img_te, mask_te = data.test["image"], data.test["mask"]

    def make_judge():
        t0 = time.perf_counter()
        m = train_segmenter(img, mask, epochs=args.judge_epochs * 3, progress=args.progress)
        held = iou((predict(m, img_te) > 0).long(), mask_te)
        return m, {"in_channels": 3}, {"heldout_iou": float(held.mean()), "seconds": time.perf_counter() - t0}

    seg, seg_info = cached_module(args.cache / f"eth80-segmenter-e{args.judge_epochs * 3}",
                                  "polymodal-eval-segmenter", Segmenter, make_judge)
    print(f"eth80 segmenter: held-out-object IoU {seg_info['heldout_iou']:.3f}", flush=True)
    cfg = task_config("eth80-mask", args.channels, args.gamma, LossWeights(l0=1.0, l1=args.l1, l2=args.l2),
                      schedule=args.schedule)
    model, info = trained(args, "eth80-mask", cfg, data.train, args.batch_size // 2)
    n = args.samples // 2
    gen = generate_many(model, n, args.sample_steps, seed=2000, chunk=64)
    judged = (predict(seg, gen["image"]) > 0).long()
    ious = iou(gen["mask"], judged)
    real = iou((predict(seg, img_te) > 0).long(), mask_te)
    out = {"segmenter": seg_info, "samples": n, "train": info, "iou_mean": float(ious.mean()),
           "iou_median": float(ious.median()), "segmenter_vs_truth_heldout_iou": float(real.mean()),
           "generated_foreground_share": float(gen["mask"].float().mean()),
           "real_foreground_share": float(mask.float().mean()),
           "sample_seconds_64_ddim50": sampling_time(model), "params": sum(p.numel() for p in model.parameters()),
           "config": cfg.to_dict(), "commit": commit()}
    print(f"eth80 mask: IoU(generated mask, segmenter) {out['iou_mean']:.3f} "
          f"train {info['steps_per_second']:.2f} steps/s", flush=True)
    k = 12
    contact_sheet([gen["image"][:k], gen["mask"][:k], judged[:k]],
                  args.results / f"diffusion_eth80_mask{args.suffix}.png", ["image", "gen. mask", "segmenter"])
    return out


# masked-image reconstruction ------------------------------------------------------------------------------------
def masked_task(args) -> dict:
    sets = {}
    for name in args.masked_sets:
        data = task_data(f"{name}-masked")
        sets[name] = (data.train["image"], data.test["image"][: args.recon_eval])
    pd = PerceptualDistance()
    out = {"squares": args.squares, "side": args.side, "sets": {}}
    for name, (train_x, eval_x) in sets.items():
        hidden = square_masks(len(eval_x), 64, args.squares, args.side, torch.Generator().manual_seed(7))
        masked = hide(eval_x, hidden)
        rows = {}
        for variant in ("mt-diffusion", "reconstruction-only"):
            cfg = task_config(f"{name}-masked", args.channels, args.gamma,
                              LossWeights(l0=1.0, l1=args.l1, l2=args.l2), baseline=variant != "mt-diffusion",
                              schedule=args.schedule)
            model, info = trained(args, f"{name}-masked-{variant}", cfg, {"image": train_x}, args.batch_size // 2,
                                  squares=args.squares, side=args.side)
            if variant == "mt-diffusion":
                gen = generate_many(model, len(eval_x), args.sample_steps, seed=3000, chunk=64,
                                    given={"masked_image": masked})
                outputs = {"sampled": gen["image"], "decoder": gen["reconstruction"]}
            else:
                outputs = {"decoder": reconstruct_directly(model, masked)}
            for how, pred in outputs.items():
                filled = masked + hidden * pred  # known pixels kept, hidden squares from the model
                rows[f"{variant}/{how}"] = {
                    "psnr": float(psnr(filled, eval_x).mean()), "ssim": float(ssim(filled, eval_x).mean()),
                    "perceptual": float(pd(filled, eval_x).mean()), "train": info, "commit": commit()}
                print(f"masked {name} {variant}/{how}: {rows[f'{variant}/{how}']}", flush=True)
                if how == "sampled" or variant == "reconstruction-only":
                    rows[f"{variant}/{how}"]["_preview"] = filled[:8]
        previews = [rows[k].pop("_preview") for k in list(rows) if "_preview" in rows[k]]
        contact_sheet([eval_x[:8], masked[:8], *previews], args.results / f"diffusion_masked_{name}{args.suffix}.png",
                   ["original", "masked", "MT sampled", "recon-only"][: 2 + len(previews)])
        out["sets"][name] = rows
    return out


def reference_fills(eval_x: torch.Tensor, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
    """Fills of the hidden squares that need no model: what the metrics give for a flat, a smooth and a blind but
    realistic fill."""
    from skimage.restoration import inpaint_biharmonic

    masked = hide(eval_x, hidden)
    known = 1 - hidden
    mean = (masked * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    biharmonic = torch.stack([
        torch.from_numpy(inpaint_biharmonic(x.permute(1, 2, 0).numpy().astype(np.float64), h[0].numpy().astype(bool),
                                            channel_axis=-1)).permute(2, 0, 1).float()
        for x, h in zip(masked, hidden, strict=True)])
    return {"mid-grey (the masked image)": masked, "mean of the known pixels": mean.expand_as(eval_x),
            "biharmonic inpainting": biharmonic, "another image's pixels (real, blind)": eval_x.roll(1, 0)}


def masked_references(args) -> dict:
    pd = PerceptualDistance()
    out = {"squares": args.squares, "side": args.side, "sets": {}}
    for name in args.masked_sets:
        eval_x = task_data(f"{name}-masked").test["image"][: args.recon_eval]
        hidden = square_masks(len(eval_x), 64, args.squares, args.side, torch.Generator().manual_seed(7))
        masked = hide(eval_x, hidden)
        rows = {}
        for how, pred in reference_fills(eval_x, hidden).items():
            filled = masked + hidden * pred
            rows[how] = {"psnr": float(psnr(filled, eval_x).mean()), "ssim": float(ssim(filled, eval_x).mean()),
                         "perceptual": float(pd(filled, eval_x).mean()), "commit": commit()}
            print(f"masked-references {name} {how}: {rows[how]}", flush=True)
        out["sets"][name] = rows
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("fmnist", "fmnist-floor", "mask", "masked", "masked-references"),
                    action="append")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64],
                    help="U-Net widths (28 px Fashion-MNIST); the 64 px parts add one more level")
    ap.add_argument("--schedule", choices=("bump", "shift"), default="bump",
                    help="modality weight schedule (process.lam_schedule)")
    ap.add_argument("--label-reader", action="store_true",
                    help="fmnist: condition the U-Net on its own reading of the label (MTConfig.label_reader)")
    ap.add_argument("--reader-subtract", action="store_true",
                    help="fmnist: the U-Net also sees z_t minus the reader's label encoding (MTConfig.reader_subtract)")
    ap.add_argument("--class-dropout", type=float, default=0.0,
                    help="fmnist: share of training examples given the null class conditioning (both models), so "
                         "that sampling can use classifier-free guidance (MTConfig.class_dropout)")
    ap.add_argument("--teacher-forcing", type=float, default=0.0,
                    help="fmnist, a label reader: share of training examples whose U-Net is conditioned on the true "
                         "label instead of the reader's reading (MTConfig.teacher_forcing)")
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.0],
                    help="fmnist: classifier-free guidance scales to evaluate (1: none; others need --class-dropout)")
    ap.add_argument("--fmnist-models", nargs="+", choices=("mt-diffusion", "class-conditional"),
                    default=["mt-diffusion", "class-conditional"],
                    help="fmnist: the models to train (or load) and score; one per process trains the two side by "
                         "side, and a later run with both loads them from --cache and compares")
    ap.add_argument("--stratify", action="store_true",
                    help="fmnist: start the MT model's chains with exactly n/10 labels per class (stratified draws "
                         "of the uniform prior, in a random order), as the baseline is given; default i.i.d. draws")
    ap.add_argument("--skip-diagnostics", action="store_true",
                    help="fmnist: skip the MT model's label-given diagnostic run")
    ap.add_argument("--sample-seed", type=int, default=1000,
                    help="fmnist: seed of the evaluated samples (another value gives an independent replicate)")
    ap.add_argument("--suffix", default="", help="appended to the result file names (diffusion_<part><suffix>.json, "
                                                   "and the PNGs)")
    ap.add_argument("--gamma", type=float, default=1.0, help="modality scale of the weight schedule")
    ap.add_argument("--l1", type=float, default=0.0)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--judge-epochs", type=int, default=3)
    ap.add_argument("--squares", type=int, default=3)
    ap.add_argument("--side", type=int, default=16)
    ap.add_argument("--recon-eval", type=int, default=256)
    ap.add_argument("--masked-sets", nargs="+", choices=("eth80", "isbi"), default=["eth80", "isbi"],
                    help="masked: the image sets to train and score on")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the diffusion models train (judges, sampling and scoring stay on the CPU)")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "diffusion-cache")
    ap.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args(argv)
    if args.class_dropout == 0 and any(s != 1 for s in args.guidance):
        ap.error("--guidance other than 1 needs --class-dropout > 0 (a learnt null conditioning)")
    torch.set_num_threads(args.threads)
    parts = {"fmnist": fmnist, "fmnist-floor": fmnist_floor, "mask": mask_task, "masked": masked_task,
             "masked-references": masked_references}
    for name in args.only or ["fmnist", "mask", "masked"]:
        t0 = time.perf_counter()
        res = parts[name](args)
        res.update(seconds=time.perf_counter() - t0, steps=args.steps, threads=args.threads,
                   sample_seed=args.sample_seed, device=args.device,
                   environment=environment(("torch", "numpy", "diffusers", "scipy", "scikit-image")))
        write_json(args.results / f"diffusion_{name}{args.suffix}.json", res)
    return 0


if __name__ == "__main__":
    run(main)
