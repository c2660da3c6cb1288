from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args: str, timeout: float = 60.0):
    """`polymodal serve ARGS --port P` as a real process; returns (process, base URL) once /healthz answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "polymodal", "serve", *args, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise RuntimeError(f"server exited with {proc.returncode}: {err.decode()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not answer /healthz in time")


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="package")
def served_models(tmp_path_factory):
    """A real search model (Amazon UK toys title -> category) and a real autocomplete model (a slice of the AOL
    sessions), saved to folders, plus the in-process copies to compare the server's answers with."""
    from polymodal.autocomplete.model import SessionAutocomplete
    from polymodal.datasets import build_text_dataset
    from polymodal.datasets.aol_sessions import build_sessions
    from polymodal.retrieval.features import feature_config
    from polymodal.xmr.text_model import XRTextModel

    root = tmp_path_factory.mktemp("served")
    ds = build_text_dataset("amazon-toys-category")
    search = XRTextModel(vectorizer=feature_config("all")).fit(ds.train_texts, ds.train_labels, ds.labels)
    search.save(root / "search")
    tr = build_sessions(seed=0).splits["train"]
    n = 20000
    ac = SessionAutocomplete(index="hybrid", trie_depth=1, max_leaf_size=50).fit(tr.prev[:n], tr.prefix[:n],
                                                                                  tr.target[:n])
    ac.save(root / "autocomplete")
    return {"root": root, "search": search, "autocomplete": ac, "queries": ds.test_texts[:50]}


@pytest.fixture(scope="package")
def server(served_models):
    root = served_models["root"]
    proc, url = start_server("--search-model", str(root / "search"), "--autocomplete-model", str(root / "autocomplete"))
    yield url
    stop_server(proc)
