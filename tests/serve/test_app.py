"""In-process checks of what a real server cannot be made to do on purpose: a bug inside a handler."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from polymodal.serve.app import create_app  # noqa: E402
from polymodal.serve.models import ServedModels  # noqa: E402


class Broken:
    labels_ = ["a"]

    def predict_one(self, q, k=10):
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
