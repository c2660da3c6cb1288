"""The ``polymodal`` command. User mistakes print one ``error: ...`` line on stderr and exit with code 2."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from .autocomplete.cli import app as autocomplete_app
from .diffusion.cli import app as diffusion_app
from .distill.cli import app as distill_app
from .errors import InputError, PolymodalError
from .fusion.cli import app as fusion_app
from .retrieval.cli import app as retrieval_app
from .serve.cli import serve

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="polymodal: extreme multi-label ranking and multimodal models.")
datasets_app = typer.Typer(no_args_is_help=True, help="Build the real datasets.")
xmr_app = typer.Typer(no_args_is_help=True, help="XR-Linear extreme multi-label ranking on text2text files.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(xmr_app, name="xmr")
app.add_typer(autocomplete_app, name="autocomplete")
app.add_typer(retrieval_app, name="retrieval")
app.add_typer(fusion_app, name="fusion")
app.add_typer(diffusion_app, name="diffusion")
app.add_typer(distill_app, name="distill")
app.command("serve")(serve)


@datasets_app.command("list")
def datasets_list() -> None:
    """List the dataset builders."""
    from .datasets import MAT_SETS, TEXT_BUILDERS

    for name in TEXT_BUILDERS:
        typer.echo(name)
    typer.echo("aol-sessions (previous query, prefix, next query)")
    for name in MAT_SETS:
        typer.echo(f"{name} (features only, .mat)")


@datasets_app.command("build")
def datasets_build(
    name: str,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="output folder (default runs/data/NAME)")] = None,
) -> None:
    """Write train.tsv, test.tsv, labels.txt (and meta.json) for a text dataset."""
    from .datasets import build_text_dataset

    if name == "aol-sessions":
        from .datasets.aol_sessions import build_sessions

        sd = build_sessions()
        folder = sd.save(out or Path("runs/data") / name)
        m = sd.meta
        typer.echo(f"{name}: {m['n_train']} train, {m['n_validation']} validation, {m['n_test']} test, "
                   f"{m['n_labels']} labels -> {folder}")
        return
    ds = build_text_dataset(name)
    folder = ds.save(out or Path("runs/data") / name)
    s = ds.summary()
    typer.echo(f"{name}: {s['n_train']} train, {s['n_test']} test, {s['n_labels']} labels -> {folder}")


@datasets_app.command("synth-xmc")
def datasets_synth_xmc(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")],
    size: Annotated[str | None, typer.Option(help="named size: tiny, S, M, L, bow (fields below override it)")] = None,
    labels: Annotated[int | None, typer.Option(help="number of labels")] = None,
    rows: Annotated[int | None, typer.Option(help="training rows")] = None,
    test_rows: Annotated[int | None, typer.Option(help="test rows")] = None,
    features: Annotated[int | None, typer.Option(help="vocabulary size (feature ids)")] = None,
    labels_per_row: Annotated[float | None, typer.Option(help="mean labels per row")] = None,
    exponent: Annotated[float | None, typer.Option(help="power-law exponent of label frequencies")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    no_text: Annotated[bool, typer.Option("--no-text", help="write only the sparse shards, no train/test.tsv")]
    = False,
) -> None:
    """Write a GENERATED extreme multi-label set (seeded, sharded; see docs/xmr.md): labels.txt, train.tsv,
    test.tsv, shards/ (sparse X and Y) and meta.json. Never a real result."""
    from .datasets.synth_xmc import config_for, write_synth
    from .progress import progress_bar

    cfg = config_for(size, labels=labels, rows=rows, test_rows=test_rows, features=features,
                     labels_per_row=labels_per_row, exponent=exponent, seed=seed)
    typer.echo(f"generating {cfg.rows} train + {cfg.test_rows} test rows, {cfg.labels} labels, "
               f"{cfg.features} features (GENERATED data) -> {out}", err=True)
    with progress_bar("rows", cfg.rows + cfg.test_rows) as advance:
        meta = write_synth(cfg, out, text=not no_text, progress=advance)
    typer.echo(f"wrote {meta['n_train']} train, {meta['n_test']} test rows, {meta['labels_per_train_row']:.2f} "
               f"labels per row, measured exponent {meta['exponent_measured']:.3f} -> {out}", err=True)


def _check_k(k: int) -> int:
    from .checks import MAX_K, check_int

    return check_int("-k", k, 1, MAX_K)


def _reachable_k(xr, k: int, beam_size: int | None) -> int:
    """k, or the most labels the beam can reach when k is above it (said on stderr: the rest would be empty)."""
    beam = xr.config.beam_size if beam_size is None else beam_size
    reach = xr.tree_.reach(beam)
    if k > reach:
        typer.echo(f"note: -k {k} is more than beam size {beam} can reach ({reach} labels); returning at most "
                   f"{reach} (raise --beam-size for more)", err=True)
        return reach
    return k


@xmr_app.command("train")
def xmr_train(
    input: Annotated[Path, typer.Option("--input", "-i", help="text2text training file")],
    model: Annotated[Path, typer.Option("--model", "-m", help="model folder to write")],
    labels: Annotated[Path | None, typer.Option(help="labels.txt (default: beside the input)")] = None,
    no_label_names: Annotated[bool, typer.Option(
        help="train without labels.txt (label names are the ids, which must be dense)")] = False,
    nr_splits: int = 16,
    max_leaf_size: int = 100,
    threshold: float = 0.1,
    beam_size: int = 10,
    negatives: Annotated[str, typer.Option(help="tfn | man | tfn+man")] = "tfn",
    loss: Annotated[str, typer.Option(help="squared-hinge | hinge | logistic")] = "squared-hinge",
    cp: Annotated[float, typer.Option("--Cp")] = 1.0,
    cn: Annotated[float, typer.Option("--Cn")] = 1.0,
    seed: int = 0,
    threads: Annotated[int, typer.Option(help="0 = all cores")] = 0,
    layout: Annotated[str, typer.Option(help="compact (smallest file) | mmap (memory-mapped at load)")] = "compact",
    quiet: bool = False,
) -> None:
    """Train an XR-Linear text model (features + label tree + rankers) into MODEL folder."""
    from .xmr.model import XRLinearConfig
    from .xmr.text2text import read_training_set
    from .xmr.text_model import XRTextModel

    cfg = XRLinearConfig(nr_splits=nr_splits, max_leaf_size=max_leaf_size, threshold=threshold,
                         beam_size=beam_size, negatives=negatives, loss=loss, Cp=cp, Cn=cn, seed=seed,
                         threads=threads)
    t0 = time.perf_counter()
    from .xmr.chunked import LAYOUTS

    if layout not in LAYOUTS:
        raise InputError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    _check_target(model)
    texts, ys, names = read_training_set(input, labels, no_label_names)
    m = XRTextModel(cfg).fit(texts, ys, names, progress=not quiet)
    m.save(model, layout=layout)
    typer.echo(f"trained on {len(texts)} examples, {m.xr.n_labels_} labels, {m.xr.weights_.nnz} weights "
               f"in {time.perf_counter() - t0:.1f}s -> {model}", err=True)


@xmr_app.command("mmap")
def xmr_mmap(
    model: Annotated[Path, typer.Option("--model", "-m", help="model folder (text model or XR-Linear)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write here instead of replacing MODEL")] = None,
    compact: Annotated[bool, typer.Option("--compact", help="convert back to the compact layout")] = False,
) -> None:
    """Rewrite a model in the memory-mapped serving layout (load reads no weights; serve workers share pages)."""
    from .modelio import read_any_format
    from .xmr.model import FORMAT as XR_FORMAT
    from .xmr.model import XRLinear
    from .xmr.text_model import XRTextModel

    fmt = read_any_format(model)
    cls = XRLinear if fmt == XR_FORMAT else XRTextModel
    m = cls.load(model, mmap=False)
    layout = "compact" if compact else "mmap"
    dest = out or model
    m.save(dest, layout=layout)
    typer.echo(f"{model} -> {dest} ({layout} layout)", err=True)


def _check_target(model: Path) -> None:
    """Refuse a model path that cannot be written before any work is done (a file there, or above it)."""
    for p in (model, *model.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"cannot write the model folder {model}: {p} is a file")
            return


@xmr_app.command("predict")
def xmr_predict(
    model: Annotated[Path, typer.Option("--model", "-m")],
    input: Annotated[str, typer.Option("--input", "-i", help="file of texts (or text2text), - for stdin")],
    k: Annotated[int, typer.Option("-k")] = 10,
    beam_size: int | None = None,
) -> None:
    """Exactly one JSON line per input line, in order: {"labels": [...], "ids": [...], "scores": [...]}; an
    empty input line gets empty lists."""
    import numpy as np

    from .xmr.text2text import read_queries
    from .xmr.text_model import XRTextModel

    _check_k(k)
    if beam_size is not None:
        from .checks import MAX_BEAM, check_int

        check_int("--beam-size", beam_size, 1, MAX_BEAM)
    m = XRTextModel.load(model)
    texts = read_queries(input, keep_empty=True)
    k = _reachable_k(m.xr, k, beam_size)
    full = [i for i, t in enumerate(texts) if t]
    got_ids, got_scores = m.predict([texts[i] for i in full], k=k, beam_size=beam_size)
    ids = np.full((len(texts), got_ids.shape[1]), -1, dtype=np.int64)
    scores = np.zeros((len(texts), got_ids.shape[1]), dtype=np.float32)
    ids[full], scores[full] = got_ids, got_scores
    out = sys.stdout
    for row, sc in zip(ids, scores):
        keep = row >= 0
        out.write(json.dumps({"labels": [m.labels_[i] for i in row[keep]], "ids": row[keep].tolist(),
                              "scores": [round(float(s), 6) for s in sc[keep]]}) + "\n")


@xmr_app.command("evaluate")
def xmr_evaluate(
    model: Annotated[Path, typer.Option("--model", "-m")],
    input: Annotated[Path, typer.Option("--input", "-i", help="text2text test file")],
    k: Annotated[int, typer.Option("-k")] = 10,
    beam_size: int | None = None,
    psp_a: Annotated[float, typer.Option("--psp-A", help="propensity model A (Jain et al. 2016)")] = 0.55,
    psp_b: Annotated[float, typer.Option("--psp-B", help="propensity model B")] = 1.5,
) -> None:
    """A table of ranking metrics (P, R, nDCG, and propensity-scored PSP and PSnDCG from the training label
    frequencies the model keeps); the last stdout line is one JSON object (percent)."""
    from rich.console import Console
    from rich.table import Table

    from .checks import check_float, check_int
    from .xmr.metrics import labels_to_csr, propensity_metrics, ranking_metrics
    from .xmr.text2text import read_text2text
    from .xmr.text_model import XRTextModel

    check_int("-k", k, 1, 1000)  # metrics hold an n x k matrix

    check_float("--psp-A", psp_a, 0.0, 100.0, lo_open=True)
    check_float("--psp-B", psp_b, 0.0, 100.0)
    if not (psp_a > 0 and psp_b >= 0):
        raise InputError(f"--psp-A must be > 0 and --psp-B >= 0, got {psp_a} and {psp_b}")
    m = XRTextModel.load(model)
    texts, ys = read_text2text(input, m.xr.n_labels_)
    t0 = time.perf_counter()
    ids, _ = m.predict(texts, k=_reachable_k(m.xr, max(k, 10), beam_size), beam_size=beam_size)
    dt = time.perf_counter() - t0
    ks = sorted({1, 3, 5, 10, k})
    Y = labels_to_csr(ys, m.xr.n_labels_)
    res = ranking_metrics(Y, ids, ks=ks)
    inv_p = m.xr.inverse_propensity(psp_a, psp_b)
    if inv_p is not None:
        res.update(propensity_metrics(Y, ids, inv_p, ks=ks))
    res = {key: round(v, 4) for key, v in res.items()}
    res["n"] = len(texts)
    res["ms_per_query"] = round(1000 * dt / len(texts), 4)
    table = Table()
    cols = ["P", "R", "nDCG"] + (["PSP", "PSnDCG"] if inv_p is not None else [])
    table.add_column("k", justify="right")
    for col in cols:
        table.add_column(f"{col}@k", justify="right")
    for kk in ks:
        table.add_row(str(kk), *(f"{res[f'{c}@{kk}']:.2f}" for c in cols))
    console = Console(width=100)
    console.print(f"{input} ({len(texts)} examples)", soft_wrap=True, markup=False, highlight=False)
    console.print(table)
    print(json.dumps(res))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Usage errors are recognised by shape (``format_message`` and
    ``exit_code``) because typer ships click under different module names across versions."""
    cmd = typer.main.get_command(app)
    try:
        rv = cmd.main(args=argv, prog_name="polymodal", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except PolymodalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except Exception as exc:
        kind = type(exc).__name__
        if kind == "Exit":
            return int(getattr(exc, "exit_code", 0) or 0)
        if kind == "Abort":
            print("error: aborted", file=sys.stderr)
            return 130
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            print(f"error: {exc.format_message()}", file=sys.stderr)
            return 2
        raise


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
