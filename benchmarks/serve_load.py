"""Load test of the HTTP service: a real ``polymodal serve`` (uvicorn) process on 127.0.0.1, driven by a bounded
number of concurrent keep-alive clients (async httpx) for a fixed time or request count, whichever ends first.

    .venv/bin/python benchmarks/serve_load.py                         # 50 clients, 30 s, real AOL models
    .venv/bin/python benchmarks/serve_load.py --concurrency 50 --duration 30 --workers 2 --rate 1000

Requests: search queries from the aol-clicks test split and (previous query, prefix) pairs from the aol-sessions
test split, in equal parts, with ``--malformed`` of the requests (default 5 %) replaced by bad ones, a burst of
them mixed into the load: k=0, k=500, a 600-character query, invalid UTF-8, a missing parameter, an unknown
route. Each client holds one keep-alive connection and waits for its answer before sending the next request (closed
loop: at saturation, latency = clients / throughput by Little's law); ``--rate R`` instead paces the clients to R
requests/s in total (each client on its own schedule). Latency is measured from just before the request is
written to the last byte of the body. The client is a small asyncio HTTP/1.1 loop (see ``Connection``).

Errors = transport failures, 5xx, any status other than the expected one (200 for good requests, the
documented 4xx for malformed ones), a non-JSON body, a 200 without results, or an error body with a traceback.
Reports requests/s, p50/p99 (good requests), and error counts; writes
results/serve/NAME.json (``--name``), with the server flags (``--server-arg``) and the commit. ``--slow-clients N``
adds N connections that drip a request head one byte per second for the whole run (closed by the server's header
timeout; they reconnect), to show they do not raise the tail of the normal requests. 503 ``overloaded`` answers
(load shedding) are counted apart, with their own latency, not as errors. Models are trained
 into runs/serve-bench/ on first use (about 2 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from entry import run  # noqa: E402
from polymodal.serve.launch import start_server, stop_server  # noqa: E402

MALFORMED = [  # (path with query, expected status)
    ("/v1/search?q=lego&k=0", 422),
    ("/v1/search?q=lego&k=500", 422),
    ("/v1/search?q=" + "a" * 600, 413),
    ("/v1/search?q=%FF%FEab", 400),
    ("/v1/autocomplete?prev=abc", 422),
    ("/v1/nowhere?q=x", 404),
]


def ensure_models(folder: Path) -> tuple[Path, Path]:
    from polymodal.autocomplete.model import SessionAutocomplete
    from polymodal.datasets import build_text_dataset
    from polymodal.datasets.aol_sessions import build_sessions
    from polymodal.retrieval.features import feature_config
    from polymodal.xmr.text_model import XRTextModel

    search, ac = folder / "search-aol-clicks", folder / "autocomplete-hybrid1"
    if not (search / "config.json").is_file():
        print("training the aol-clicks search model ...", file=sys.stderr)
        ds = build_text_dataset("aol-clicks")
        XRTextModel(vectorizer=feature_config("all")).fit(ds.train_texts, ds.train_labels, ds.labels).save(search)
    if not (ac / "config.json").is_file():
        print("training the hybrid:1 autocomplete model ...", file=sys.stderr)
        tr = build_sessions().splits["train"]
        SessionAutocomplete(index="hybrid", trie_depth=1).fit(tr.prev, tr.prefix, tr.target).save(ac)
    return search, ac


def build_requests(n: int, malformed: float, seed: int) -> list[tuple[str, str, dict | None, int]]:
    """(kind, path, params, expected status) in a fixed shuffled order."""
    from polymodal.datasets import build_text_dataset
    from polymodal.datasets.aol_sessions import build_sessions

    queries = build_text_dataset("aol-clicks").test_texts
    te = build_sessions().splits["test"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < malformed:
            path, status = MALFORMED[i % len(MALFORMED)]
            out.append(("malformed", path, None, status))
        elif i % 2:
            out.append(("search", "/v1/search", {"q": queries[rng.randrange(len(queries))], "k": 10}, 200))
        else:
            j = rng.randrange(len(te))
            out.append(("autocomplete", "/v1/autocomplete", {"prev": te.prev[j], "prefix": te.prefix[j], "k": 10}, 200))
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams. The load generator is written here, not taken
    from httpx: on this 2-core machine an httpx.AsyncClient with 50 connections tops out near 170 requests/s
    (the client, not the server, was the bottleneck), while this loop costs tens of microseconds per request."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def get(self, target: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode("ascii"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, ctype, close = 0, b"", False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"content-type":
                ctype = value.strip()
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, ctype + b"\n" + body

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


def target_of(path: str, params: dict | None) -> str:
    from urllib.parse import urlencode

    return path + ("?" + urlencode(params) if params else "")


async def drive(url: str, reqs, concurrency: int, duration: float, rate: float | None):
    host, port = url.split("//")[1].split(":")
    port = int(port)
    targets = [(kind, target_of(path, params), expected) for kind, path, params, expected in reqs]
    results = []  # (kind, seconds, status or negative on error, expected)
    counter = iter(range(len(targets)))
    t_end = time.perf_counter() + duration
    interval = concurrency / rate if rate else 0.0

    async def worker(w: int):
        conn = Connection(host, port)
        next_at = time.perf_counter() + (w * interval / concurrency if rate else 0.0)
        try:
            while True:
                now = time.perf_counter()
                if now >= t_end:
                    return
                if rate:
                    if next_at > now:
                        await asyncio.sleep(next_at - now)
                    next_at += interval
                i = next(counter, None)
                if i is None:
                    return
                kind, target, expected = targets[i]
                t0 = time.perf_counter()
                try:
                    status, body = await conn.get(target)
                    if status == 503 and body.startswith(b"application/json") and b'"overloaded"' in body:
                        results.append((kind, time.perf_counter() - t0, -503, expected))
                        continue
                    ok = status == expected and body.startswith(b"application/json")
                    if ok and expected == 200:
                        ok = b'"results"' in body or b'"suggestions"' in body
                    elif ok:
                        ok = b'"error"' in body and b"Traceback" not in body
                    status = status if ok else -status
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
                    status = -1
                    await conn.close()
                results.append((kind, time.perf_counter() - t0, status, expected))
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return results, time.perf_counter() - t0


async def slow_client(host: str, port: int, t_end: float, holds: list[float]) -> None:
    """A client that drips a request head one byte per second (slowloris); when the server closes it, it
    reconnects. ``holds`` gets how long each connection was held open before the server closed it."""
    while time.perf_counter() < t_end:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        t0 = time.perf_counter()
        try:
            writer.write(b"GET /v1/search?q=lego HTTP/1.1\r\n")
            while time.perf_counter() < t_end:
                writer.write(b"X")
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.read(65536), timeout=1.0)
                    break  # the 408 answer, or EOF: the server ended this connection
                except TimeoutError:
                    continue
            else:
                writer.close()
                return
            holds.append(time.perf_counter() - t0)
        except OSError:
            holds.append(time.perf_counter() - t0)
        finally:
            writer.close()


async def drive_with_slow(url, reqs, concurrency, duration, rate, slow: int):
    host, port = url.split("//")[1].split(":")
    holds: list[float] = []
    t_end = time.perf_counter() + duration
    tasks = [asyncio.create_task(slow_client(host, int(port), t_end, holds)) for _ in range(slow)]
    await asyncio.sleep(min(2.0, duration / 4) if slow else 0)  # the slow clients are connected first
    results, wall = await drive(url, reqs, concurrency, max(0.5, t_end - time.perf_counter()), rate)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return results, wall, holds


def summarize(results, wall: float) -> dict:
    out = {"requests": len(results), "wall_s": round(wall, 2), "requests_per_s": round(len(results) / wall, 1),
           "errors": sum(1 for r in results if r[2] < 0 and r[2] != -503),
           "shed_503": sum(1 for r in results if r[2] == -503)}
    shed = np.array([r[1] for r in results if r[2] == -503]) * 1e3
    if len(shed):
        out["shed"] = {"p50_ms": round(float(np.percentile(shed, 50)), 3),
                       "p99_ms": round(float(np.percentile(shed, 99)), 3), "max_ms": round(float(shed.max()), 3)}
    for kind in ("all_good", "search", "autocomplete", "malformed"):
        sel = [r for r in results if (r[0] != "malformed" if kind == "all_good" else r[0] == kind) and r[2] != -503]
        if not sel:
            continue
        ms = np.array([r[1] for r in sel]) * 1e3
        out[kind] = {"n": len(sel), "p50_ms": round(float(np.percentile(ms, 50)), 3),
                     "p99_ms": round(float(np.percentile(ms, 99)), 3), "max_ms": round(float(ms.max()), 3),
                     "errors": sum(1 for r in sel if r[2] < 0)}
    return out


def commit() -> str:
    import subprocess

    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return sha + ("+dirty" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--search-model", type=Path)
    ap.add_argument("--autocomplete-model", type=Path)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--requests", type=int, default=200_000, help="stop after this many requests")
    ap.add_argument("--rate", type=float, default=None, help="paced total requests/s (default: closed loop)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--malformed", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slow-clients", type=int, default=0, help="connections that drip a header byte per second")
    ap.add_argument("--server-arg", action="append", default=[], help="passed to polymodal serve (repeatable)")
    ap.add_argument("--name", default="load", help="results/serve/NAME.json")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    if args.search_model and args.autocomplete_model:
        search, ac = args.search_model, args.autocomplete_model
    else:
        search, ac = ensure_models(ROOT / "runs" / "serve-bench")
    reqs = build_requests(args.requests, args.malformed, args.seed)
    proc, url = start_server("--search-model", str(search), "--autocomplete-model", str(ac),
                             "--workers", str(args.workers), *args.server_arg, timeout=120)
    runs = []
    try:
        asyncio.run(drive(url, reqs[:2000], args.concurrency, 3.0, args.rate))  # warm-up
        for _ in range(args.repeats):
            results, wall, holds = asyncio.run(drive_with_slow(url, reqs, args.concurrency, args.duration,
                                                                 args.rate, args.slow_clients))
            runs.append(summarize(results, wall))
            if args.slow_clients:
                runs[-1]["slow_clients"] = {"n": args.slow_clients, "closed_by_server": len(holds),
                                            "median_hold_s": round(float(np.median(holds)), 2) if holds else None}
            print(json.dumps(runs[-1]), file=sys.stderr)
    finally:
        stop_server(proc)
    med = lambda key, sub=None: float(np.median([r[sub][key] if sub else r[key] for r in runs]))  # noqa: E731
    report = {
        "config": {"concurrency": args.concurrency, "duration_s": args.duration, "rate": args.rate,
                   "workers": args.workers, "malformed_fraction": args.malformed, "repeats": args.repeats,
                   "slow_clients": args.slow_clients, "server_args": args.server_arg, "cpus": os.cpu_count(),
                   "commit": commit(), "command": " ".join(sys.argv)},
        "median": {"requests_per_s": med("requests_per_s"), "p50_ms": med("p50_ms", "all_good"),
                   "p99_ms": med("p99_ms", "all_good"), "max_ms": med("max_ms", "all_good"),
                   "shed_503_total": int(sum(r["shed_503"] for r in runs)),
                   "errors_total": int(sum(r["errors"] for r in runs)),
                   "malformed_sent": int(sum(r.get("malformed", {}).get("n", 0) for r in runs))},
        "runs": runs,
    }
    args.out = args.out or ROOT / "results" / "serve" / f"{args.name}.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["median"], indent=1))


if __name__ == "__main__":
    run(main)
