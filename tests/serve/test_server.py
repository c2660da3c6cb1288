"""The real service: uvicorn on a free loopback port, every endpoint and every error path."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from polymodal.serve.launch import start_server, stop_server


def get(url, path, **params):
    return httpx.get(url + path, params=params, timeout=10.0)


def assert_json_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == code
    assert "Traceback" not in r.text


def test_healthz_names_the_models(server, served_models):
    body = get(server, "/healthz").json()
    assert body["status"] == "ok"
    assert body["models"]["search"].endswith("search")
    assert body["models"]["autocomplete"].endswith("autocomplete")


@pytest.mark.parametrize("k", [1, 10, 100])
def test_search_matches_the_model_in_process(server, served_models, k):
    m = served_models["search"]
    for q in served_models["queries"][:10]:
        body = get(server, "/v1/search", q=q, k=k).json()
        ids, scores = m.predict_one(q, k=k)
        assert body["query"] == q
        assert [r["item"] for r in body["results"]] == [m.labels_[i] for i in ids]
        assert [r["score"] for r in body["results"]] == pytest.approx(scores.tolist(), abs=1e-5)
        assert len(body["results"]) <= k


def test_autocomplete_matches_the_model_in_process(server, served_models):
    ac = served_models["autocomplete"]
    for prev, prefix in [("weather", "goo"), ("", "ebay m"), ("cheap flights", "a"), ("", ""), ("x", "zzzzqqq")]:
        body = get(server, "/v1/autocomplete", prev=prev, prefix=prefix, k=7).json()
        assert body["suggestions"] == ac.suggest(prev, prefix, 7)
        assert all(s.startswith(prefix) for s in body["suggestions"])
    assert get(server, "/v1/autocomplete", prefix="zzzzqqq").json()["suggestions"] == []


def test_non_ascii_text_round_trips(server):
    body = get(server, "/v1/search", q="poupée Barbie ünïcode 玩具").json()
    assert body["query"] == "poupée Barbie ünïcode 玩具"


@pytest.mark.parametrize("params", [{"q": "lego", "k": 0}, {"q": "lego", "k": 101}, {"q": "lego", "k": "ten"},
                                    {"k": 3}, {"q": "   "}])
def test_bad_search_parameters_are_422(server, params):
    assert_json_error(get(server, "/v1/search", **params), 422, "invalid_request")


def test_text_length_limit(server):
    assert get(server, "/v1/search", q="a" * 512).status_code == 200
    assert_json_error(get(server, "/v1/search", q="a" * 513), 413, "text_too_long")
    assert_json_error(get(server, "/v1/autocomplete", prefix="b", prev="a" * 513), 413, "text_too_long")
    assert_json_error(get(server, "/v1/autocomplete", prefix="é" * 513), 413, "text_too_long")


def test_autocomplete_needs_a_prefix_parameter(server):
    assert_json_error(get(server, "/v1/autocomplete", prev="x"), 422, "invalid_request")
    assert_json_error(get(server, "/v1/autocomplete", prefix="a", k=-1), 422, "invalid_request")


def test_non_utf8_query_string_is_400(server):
    r = httpx.get(server + "/v1/search?q=%FF%FEabc", timeout=10.0)
    assert_json_error(r, 400, "invalid_utf8")
    r = httpx.get(server + "/v1/autocomplete?prefix=ab%C3", timeout=10.0)
    assert_json_error(r, 400, "invalid_utf8")


def test_unknown_route_and_method(server):
    assert_json_error(get(server, "/v1/nothing"), 404, "not_found")
    assert_json_error(httpx.post(server + "/v1/search", timeout=10.0), 405, "method_not_allowed")


def test_openapi_docs(server):
    spec = get(server, "/openapi.json").json()
    assert {"/v1/search", "/v1/autocomplete", "/healthz"} <= set(spec["paths"])
    k = next(p for p in spec["paths"]["/v1/search"]["get"]["parameters"] if p["name"] == "k")
    assert k["schema"]["minimum"] == 1 and k["schema"]["maximum"] == 100
    assert "swagger" in get(server, "/docs").text.lower()


def test_missing_model_is_503_and_two_workers_serve(served_models):
    proc, url = start_server("--search-model", str(served_models["root"] / "search"), "--workers", "2")
    try:
        assert_json_error(get(url, "/v1/autocomplete", prefix="a"), 503, "model_not_loaded")
        q = served_models["queries"][0]
        ids, _ = served_models["search"].predict_one(q, k=5)
        for _ in range(6):  # spread over both workers
            body = get(url, "/v1/search", q=q, k=5).json()
            assert [r["item"] for r in body["results"]] == [served_models["search"].labels_[i] for i in ids]
    finally:
        stop_server(proc)


@pytest.mark.parametrize("case", ["missing", "corrupt", "wrong-kind", "none"])
def test_bad_model_folder_stops_start_up(served_models, tmp_path, case):
    if case == "missing":
        args = ["--search-model", str(tmp_path / "nope")]
    elif case == "corrupt":
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "config.json").write_text("{not json")
        args = ["--search-model", str(tmp_path / "m")]
    elif case == "wrong-kind":  # an autocomplete folder given as the search model
        args = ["--search-model", str(served_models["root"] / "autocomplete")]
    else:
        args = []
    r = subprocess.run([sys.executable, "-m", "polymodal", "serve", *args, "--port", "0"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_fast_path_and_framework_path_answer_alike(server, served_models):
    """A repeated parameter sends the request past the fast path to FastAPI; both must give the same JSON."""
    for q in served_models["queries"][:5]:
        fast = httpx.get(server + "/v1/search", params={"q": q, "k": 5}, timeout=10.0)
        slow = httpx.get(server + "/v1/search", params=[("q", q), ("k", 5), ("k", 5)], timeout=10.0)
        assert fast.status_code == slow.status_code == 200 and fast.json() == slow.json()
    fast = httpx.get(server + "/v1/autocomplete", params={"prev": "weather", "prefix": "goo"}, timeout=10.0)
    slow = httpx.get(server + "/v1/autocomplete", params=[("prev", "weather"), ("prefix", "goo"), ("k", 10),
                                                          ("k", 10)], timeout=10.0)
    assert fast.json() == slow.json()


def _children(pid: int) -> list[int]:
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_two_workers_map_one_memory_mapped_model(served_models, tmp_path):
    """A model saved in the mmap layout is served by two workers that both map the same file (its pages are
    shared through the page cache, not copied per worker), with the answers of the in-process model."""
    import time
    from pathlib import Path

    from polymodal.xmr.text_model import XRTextModel

    m = served_models["search"]
    m.save(tmp_path / "search-mmap", layout="mmap")
    weights = str((tmp_path / "search-mmap" / "xr_linear.safetensors").resolve())
    proc, url = start_server("--search-model", str(tmp_path / "search-mmap"), "--workers", "2")
    try:
        loaded = XRTextModel.load(tmp_path / "search-mmap")
        assert loaded.xr.weights_.mapped
        for q in served_models["queries"][:20]:
            body = get(url, "/v1/search", q=q, k=5).json()
            ids, _ = m.predict_one(q, k=5)
            assert [r["item"] for r in body["results"]] == [m.labels_[i] for i in ids]
        deadline = time.monotonic() + 30
        while True:
            workers = [p for p in _children(proc.pid)
                       if weights in Path(f"/proc/{p}/maps").read_text()]
            if len(workers) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) == 2
    finally:
        stop_server(proc)
