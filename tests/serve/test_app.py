"""In-process checks of what a real server cannot be made to do on purpose: a bug inside a handler."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from polymodal.serve.app import create_app  # noqa: E402
from polymodal.serve.models import ServedModels  # noqa: E402


class Broken:
    labels_ = ["a"]

    def suggest(self, q, k=10, beam_size=None):
        raise RuntimeError("secret internal detail")


def test_a_bug_is_500_json_without_the_exception_text():
    client = TestClient(create_app(ServedModels(search=Broken(), search_path="x")), raise_server_exceptions=False)
    r = client.get("/v1/search", params={"q": "lego"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal_error", "detail": "internal server error"}
    assert "secret" not in r.text


def test_served_models_lock_is_released_after_an_error():
    m = ServedModels(search=Broken())
    with pytest.raises(RuntimeError):
        m.search_items("x", 3)
    assert not m.lock.locked()


def test_fast_path_accepts_only_plainly_valid_requests():
    from polymodal.serve.app import FastPath

    class Search:
        labels_ = ["a", "b", "c"]

        def suggest(self, q, k=10, beam_size=None):
            return [(s, 1.0) for s in self.labels_[:k]]

    fp = FastPath(None, ServedModels(search=Search()))
    assert fp.answer("/v1/search", b"q=lego&k=2") == b'{"query": "lego", "results": [{"item": "a", "score": 1.0}, ' \
                                                      b'{"item": "b", "score": 1.0}]}'
    assert fp.answer("/v1/search", b"q=lego") is not None
    for qs in [b"q=lego&k=0", b"q=lego&k=101", b"q=lego&k=+5", b"q=lego&k=5&k=5", b"k=5", b"q=%20%20",
               b"q=" + b"a" * 513, b"q=%FF", b"q=l%C3"]:
        assert fp.answer("/v1/search", qs) is None, qs
    assert fp.answer("/v1/autocomplete", b"prefix=a") is None  # no autocomplete model: the app answers 503
    assert fp.answer("/v1/search", b"q=" + b"a" * 512) is not None


class Echo:
    """A search model that answers every query, so only the app's own validation can refuse one."""
    labels_ = ["a"]

    def suggest(self, q, k=10, beam_size=None):
        return [("a", 1.0)]


@pytest.mark.parametrize("q", ["   ", "\u200b\u200d", "\x01\x02", "\ufeff\u2060 \u00ad"])
def test_query_of_only_invisible_or_control_characters_is_the_blank_query_error(q):
    client = TestClient(create_app(ServedModels(search=Echo(), search_path="x")))
    r = client.get("/v1/search", params={"q": q})
    assert r.status_code == 422 and r.json()["detail"] == "q is empty"
    assert client.get("/v1/search", params={"q": "lego" + q}).status_code == 200
