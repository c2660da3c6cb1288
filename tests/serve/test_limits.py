"""The connection layer's limits, metrics and shutdown against a real server on loopback, with raw sockets (an
HTTP client library would refuse to send most of these requests). Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from polymodal.serve.launch import start_server, stop_server


def connect(url: str) -> socket.socket:
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def read_response(s: socket.socket, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """One response (status, lower-case headers, body); the body by content-length."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(headers.get("content-length", 0))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        rest += chunk
    return status, headers, rest[:n]


def raw(url: str, data: bytes) -> tuple[int, dict, bytes]:
    with connect(url) as s:
        s.sendall(data)
        return read_response(s)


def assert_json(resp, status: int, code: str):
    got, headers, body = resp
    assert got == status, body
    assert headers["content-type"].startswith("application/json")
    obj = json.loads(body)
    assert obj["error"] == code and set(obj) == {"error", "detail"}


def closed_by_server(s: socket.socket, timeout: float) -> bool:
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


@pytest.fixture(scope="module")
def limited(served_models):
    root = served_models["root"]
    proc, url = start_server("--search-model", str(root / "search"), "--autocomplete-model", str(root / "autocomplete"),
                             "--header-timeout", "1", "--max-connections", "40")
    yield url, proc
    stop_server(proc)


def test_protocol_errors_are_json(limited):
    url, _ = limited
    assert_json(raw(url, b"GET /v1/search?q=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "bad_request")
    assert_json(raw(url, b"NOT HTTP AT ALL\r\n\r\n"), 400, "bad_request")
    assert_json(raw(url, b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n"), 400, "bad_request")


def test_request_line_limit_is_414(limited):
    url, _ = limited
    assert_json(raw(url, b"GET /v1/search?q=" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"), 414,
                "uri_too_long")
    repeated = b"&".join([b"q=a"] * 20_000)
    assert_json(raw(url, b"GET /v1/search?" + repeated + b" HTTP/1.1\r\nHost: x\r\n\r\n"), 414, "uri_too_long")
    ok = raw(url, b"GET /v1/search?q=" + b"lego+" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert ok[0] == 200  # 517 bytes is within the limit (and the 512-character text limit is the app's)


def test_header_size_and_count_limits_are_431(limited):
    url, _ = limited
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    assert_json(raw(url, big), 431, "headers_too_large")
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"a: b\r\n" * 2000 + b"\r\n"
    assert len(many) < 16384  # small enough that only the count is over its limit
    assert_json(raw(url, many), 431, "headers_too_large")
    within = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"x%d: y\r\n" % i for i in range(90)) + b"\r\n"
    assert raw(url, within)[0] == 200


def test_unterminated_header_is_cut_at_the_limit(limited):
    """Bytes of a head that never ends are refused once past the limit, not buffered (64 MB was accepted)."""
    url, _ = limited
    with connect(url) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Never-Ends: ")
        sent, status = 0, None
        try:
            while sent < 4_000_000:
                s.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            status = read_response(s)[0]
        except (ConnectionError, OSError):
            status = "closed"
    assert sent < 4_000_000 or status in (431, "closed")
    assert status in (431, "closed")


def test_slow_header_drip_gets_408_and_is_closed(limited):
    url, _ = limited
    with connect(url) as s:
        t0 = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        resp = None
        for _ in range(40):  # one byte every 0.1 s: each byte arrives in time, the head never completes
            try:
                s.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(0.1)
            try:
                data = s.recv(65536, socket.MSG_PEEK)
                if data:
                    resp = read_response(s)
                    break
            except TimeoutError:
                pass
        elapsed = time.monotonic() - t0
    assert resp is not None, "the server never answered the dripping client"
    assert_json(resp, 408, "request_timeout")
    assert elapsed > 0.9  # not before --header-timeout 1 (the loop above bounds how long the test waits)


def test_idle_connection_is_closed_after_the_header_timeout(limited):
    url, _ = limited
    with connect(url) as s:
        t0 = time.monotonic()
        assert closed_by_server(s, timeout=5.0)  # closed within the wait, by the server
        assert time.monotonic() - t0 > 0.9  # and not before --header-timeout 1


def test_connections_over_the_limit_get_503_and_are_closed(limited):
    url, _ = limited
    held = []
    try:
        for _ in range(40):  # the limit; each answers, so each is accepted and counted before the next
            s = connect(url)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(s)[0] == 200
            held.append(s)
        extra = connect(url)
        status, headers, body = read_response(extra)
        assert_json((status, headers, body), 503, "overloaded")
        assert headers["retry-after"] == "1"
        assert closed_by_server(extra, timeout=5.0)
        extra.close()
    finally:
        for s in held:
            s.close()


def _burst(url: str, proc, n: int) -> list[tuple[int, dict, bytes]]:
    """n requests on n open connections, all sent while the server is stopped (SIGSTOP), so that on SIGCONT its
    event loop reads every one before it runs any: a queue of n requests, deterministically."""
    conns = []
    try:
        for _ in range(n):
            s = connect(url)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(s)[0] == 200
            conns.append(s)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            for s in conns:
                s.sendall(b"GET /v1/search?q=lego+duplo+train&k=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        return [read_response(s) for s in conns]
    finally:
        for s in conns:
            s.close()


def test_a_queue_over_max_pending_is_shed_with_json_503(served_models):
    root = served_models["root"]
    proc, url = start_server("--search-model", str(root / "search"), "--max-pending", "4")
    try:
        out = _burst(url, proc, 30)
    finally:
        stop_server(proc)
    ok = [r for r in out if r[0] == 200]
    shed = [r for r in out if r[0] != 200]
    assert len(ok) >= 1 and len(shed) >= 20  # a task of an earlier request may still count as pending
    for r in ok:
        assert len(json.loads(r[2])["results"]) > 0
    for r in shed:
        assert_json(r, 503, "overloaded")
        assert r[1]["retry-after"] == "1"


def test_the_same_queue_under_the_default_limit_is_served(served_models):
    root = served_models["root"]
    proc, url = start_server("--search-model", str(root / "search"))
    try:
        out = _burst(url, proc, 30)
    finally:
        stop_server(proc)
    assert [r[0] for r in out] == [200] * 30


def test_sigterm_during_a_request_gets_the_full_answer(served_models):
    root = served_models["root"]
    proc, url = start_server("--search-model", str(root / "search"))
    q = served_models["queries"][0]
    expected = [item for item, _ in served_models["search"].suggest(q, 5)]
    try:
        with connect(url) as s:
            os.kill(proc.pid, signal.SIGSTOP)
            target = b"/v1/search?" + str(httpx.QueryParams({"q": q, "k": 5})).encode()
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            os.kill(proc.pid, signal.SIGTERM)  # delivered with the request already waiting in the socket
            os.kill(proc.pid, signal.SIGCONT)
            status, headers, body = read_response(s)
            assert status == 200
            assert [r["item"] for r in json.loads(body)["results"]] == expected
            assert closed_by_server(s, timeout=10.0)  # shutting down: no keep-alive after the answer
        # uvicorn re-raises the captured SIGTERM once shut down, so the exit status is "killed by SIGTERM"
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    r = httpx.get(url + "/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            key = (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid")))
            out[key] = out.get(key, 0) + s.value
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_every_request_by_endpoint_and_status(served_models, workers):
    root = served_models["root"]
    proc, url = start_server("--search-model", str(root / "search"), "--workers", str(workers))
    try:
        with httpx.Client(timeout=10) as c:  # new connections spread over the workers
            for q in served_models["queries"][:7]:
                assert c.get(url + "/v1/search", params={"q": q, "k": 3}).status_code == 200
            for _ in range(3):
                assert c.get(url + "/v1/search", params={"q": "x", "k": 0}).status_code == 422
            assert c.get(url + "/nowhere").status_code == 404
        for _ in range(6):
            httpx.get(url + "/v1/search", params={"q": "lego"}, headers={"connection": "close"}, timeout=10)
        m = _samples(url)
    finally:
        stop_server(proc)
    ep = lambda e, s, *more: tuple(sorted((("endpoint", e), ("status", s)) + more))  # noqa: E731
    assert m[("polymodal_requests_total", ep("/v1/search", "200"))] == 13
    assert m[("polymodal_requests_total", ep("/v1/search", "422"))] == 3
    assert m[("polymodal_requests_total", ep("other", "404"))] == 1
    assert m[("polymodal_request_seconds_count", ep("/v1/search", "200"))] == 13
    assert m[("polymodal_request_seconds_bucket", ep("/v1/search", "200", ("le", "+Inf")))] == 13
    cfg = json.loads((root / "search" / "config.json").read_text())
    info = [k for k in m if k[0] == "polymodal_model_info"]
    assert len(info) == 1
    labels = dict(info[0][1])
    assert labels["model"] == "search" and labels["format"] == cfg["format"]
    assert labels["format_version"] == str(cfg["format_version"])
    assert m[("polymodal_model_load_seconds", (("model", "search"),))] > 0


def test_access_log_is_one_json_object_per_request(served_models):
    root = served_models["root"]
    proc, url = start_server("--search-model", str(root / "search"), "--access-log")
    try:
        httpx.get(url + "/v1/search", params={"q": "lego duplo", "k": 3}, timeout=10)
        httpx.get(url + "/v1/search", params={"q": "lego", "k": 0}, timeout=10)
        httpx.get(url + "/nowhere", timeout=10)
    finally:
        stop_server(proc)
    lines = [json.loads(ln) for ln in proc.stderr.read().decode().splitlines() if ln.startswith("{")]
    mine = [r for r in lines if r["path"] != "/healthz"]  # start_server polls /healthz
    assert [(r["path"], r["status"]) for r in mine] == [("/v1/search", 200), ("/v1/search", 422), ("other", 404)]
    assert all(set(r) == {"ts", "client", "method", "path", "query_bytes", "status", "ms", "bytes"} for r in mine)
    assert mine[0]["query_bytes"] == len("q=lego+duplo&k=3") and "lego" not in json.dumps(mine)


@pytest.mark.parametrize("flag,value", [("--max-pending", "0"), ("--header-timeout", "nan"),
                                        ("--max-headers", "-1"), ("--keep-alive-timeout", "inf")])
def test_bad_limit_is_one_error_line(served_models, flag, value):
    r = subprocess.run([sys.executable, "-m", "polymodal", "serve", "--search-model",
                        str(served_models["root"] / "search"), flag, value, "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {flag} ") and len(r.stderr.strip().splitlines()) == 1
