from __future__ import annotations

import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from polymodal.serve.launch import start_server, stop_server  # noqa: E402


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
