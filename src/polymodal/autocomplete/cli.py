"""``polymodal autocomplete train | suggest | evaluate``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError

app = typer.Typer(no_args_is_help=True, help="Session-aware query autocompletion (XR-Linear, AOL sessions).")

_INDEX_ALIASES = {"kmeans": "kmeans-pifa"}


def _examples(input: Path | None, split: str):
    """Examples from a previous<TAB>prefix<TAB>target file, or the aol-sessions split built from the real log."""
    from ..datasets.aol_sessions import SPLITS, build_sessions, read_sessions_tsv

    if input is not None:
        return read_sessions_tsv(input)
    if split not in SPLITS:
        raise InputError(f"--split must be one of {sorted(SPLITS)}, got {split!r}")
    return build_sessions().splits[split]


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import track

    def wrap(items, desc=""):
        return track(items, description=desc, console=_stderr_console(), transient=True)

    return wrap


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@app.command("train")
def train(
    model: Annotated[Path, typer.Option("--model", "-m", help="model folder to write")],
    input: Annotated[Path | None, typer.Option("--input", "-i", help="previous<TAB>prefix<TAB>target file "
                                                "(default: the aol-sessions training split)")] = None,
    index: Annotated[str, typer.Option(help="kmeans (= kmeans-pifa) | kmeans-text | trie | hybrid")] = "hybrid",
    trie_depth: Annotated[int, typer.Option(help="trie levels (trie, hybrid)")] = 1,
    decode: Annotated[str, typer.Option(help="constrained | filter")] = "constrained",
    beam_size: int = 10,
    pool: Annotated[int, typer.Option(help="candidates before prefix filtering (decode=filter)")] = 1000,
    max_leaf_size: int = 100,
    nr_splits: int = 16,
    no_prev: Annotated[bool, typer.Option("--no-prev", help="ignore the previous query (prefix only)")] = False,
    seed: int = 0,
    threads: Annotated[int, typer.Option(help="0 = all cores")] = 0,
    quiet: bool = False,
) -> None:
    """Train an autocompletion model (features + label index + rankers + MPC) into MODEL folder."""
    from .model import AutocompleteConfig, SessionAutocomplete

    if beam_size <= 0 or pool <= 0 or max_leaf_size <= 1 or nr_splits < 2:
        raise InputError("beam-size and pool must be positive, max-leaf-size > 1, nr-splits >= 2")
    cfg = AutocompleteConfig(index=_INDEX_ALIASES.get(index, index), trie_depth=trie_depth, decode=decode,
                             beam_size=beam_size, pool=pool, max_leaf_size=max_leaf_size, nr_splits=nr_splits,
                             use_prev=not no_prev, seed=seed, threads=threads)
    ex = _examples(input, "train")
    t0 = time.perf_counter()
    m = SessionAutocomplete(cfg).fit(ex.prev, ex.prefix, ex.target, progress=not quiet)
    m.save(model)
    typer.echo(f"trained on {len(ex)} examples, {len(m.labels_)} labels, index {cfg.index} in "
               f"{time.perf_counter() - t0:.1f}s -> {model}", err=True)


@app.command("suggest")
def suggest(
    model: Annotated[Path, typer.Option("--model", "-m")],
    prefix: Annotated[str, typer.Option(help="what the user has typed so far")],
    prev: Annotated[str, typer.Option(help="the previous query of the session")] = "",
    k: Annotated[int, typer.Option("-k")] = 10,
) -> None:
    """One suggestion per line (best first)."""
    from .model import SessionAutocomplete

    if k <= 0:
        raise InputError(f"-k must be a positive integer, got {k}")
    m = SessionAutocomplete.load(model)
    for s in m.suggest(prev, prefix, k):
        sys.stdout.write(s + "\n")


@app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Option("--model", "-m")],
    input: Annotated[Path | None, typer.Option("--input", "-i", help="previous<TAB>prefix<TAB>target file "
                                                "(default: the aol-sessions split given by --split)")] = None,
    split: Annotated[str, typer.Option(help="train | validation | test")] = "test",
    latency_requests: Annotated[int, typer.Option(help="timed requests (0 = skip)")] = 10_000,
    quiet: bool = False,
) -> None:
    """Metrics by prefix length and label frequency against MPC; the LAST stdout line is one JSON object."""
    from rich.console import Console
    from rich.table import Table

    from .evaluate import evaluate as run_eval
    from .evaluate import headline
    from .model import SessionAutocomplete

    if latency_requests < 0:
        raise InputError("--latency-requests must be >= 0")
    m = SessionAutocomplete.load(model)
    ex = _examples(input, split)
    res = run_eval(m, ex.prev, ex.prefix, ex.target, latency_requests=latency_requests,
                   progress=_progress(not quiet))
    table = Table(title=f"{len(ex)} requests: XR ({m.config.index}) vs most-popular completion")
    for col in ("group", "n", "MRR@10", "MRR@10 MPC", "success@1", "success@10", "BLEU-rw", "BLEU-rw MPC"):
        table.add_column(col, justify="right")

    def row(name, a, b):
        table.add_row(name, str(a["n"]), f"{a['MRR@10']:.4f}", f"{b['MRR@10']:.4f}", f"{a['success@1']:.4f}",
                      f"{a['success@10']:.4f}", f"{a['bleu_rw']:.4f}", f"{b['bleu_rw']:.4f}")

    row("all", res["xr"], res["mpc"])
    for g in ("prefix_length", "label_frequency"):
        for key, a in res["xr"][f"by_{g}"].items():
            row(f"{g.split('_')[0]} {key}", a, res["mpc"][f"by_{g}"][key])
    Console(width=120).print(table)
    out = headline(res)
    out["MRR@10_by_label_frequency"] = {b: round(v["MRR@10"], 5) for b, v in res["xr"]["by_label_frequency"].items()}
    print(json.dumps(out))
