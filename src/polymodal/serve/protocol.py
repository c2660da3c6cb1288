"""The HTTP/1.1 connection layer: uvicorn's httptools protocol with the limits a public deployment needs.

uvicorn gives a keep-alive timeout and a graceful-shutdown timeout, but it has no limit on the request line, the
header block or the header count, no header-read timeout (a client dripping one byte per second holds its
connection for ever), its ``limit_concurrency`` counts open *connections* (so 200 keep-alive clients above the limit
get nothing but 503s) and answers protocol errors in ``text/plain``. Replacing the server for that (granian,
hypercorn) would change every latency we have measured; the limits are instead added here, in a subclass of
uvicorn's own protocol class, at the three parser callbacks where the bytes are seen. Every answer this layer gives
is a JSON body ``{"error": CODE, "detail": ...}`` with ``connection: close``:

- 400 ``bad_request``: the bytes are not HTTP/1.1 (a raw non-ASCII byte in the request line, a broken header);
- 414 ``uri_too_long``: request line (method, target, version) over ``max_request_line`` bytes;
- 431 ``headers_too_large``: the header block over ``max_header_bytes`` or more than ``max_headers`` headers;
- 408 ``request_timeout``: the request head not complete ``header_timeout`` seconds after it began (or after the
  connection opened);
- 503 ``overloaded`` with ``Retry-After``: more than ``max_connections`` connections are open. When more than
  ``max_pending`` requests of this worker are already waiting for the event loop, a new request is marked in its
  scope and the app's outermost layer answers it 503 ``overloaded`` (load shedding: the queue, and so the latency of
  the requests that are served, stays bounded; the shed answers still pass the metrics and access log).

The limits are read once per process from the environment variable ``POLYMODAL_SERVE_LIMITS`` (JSON), which
``polymodal serve`` sets, so worker processes started by uvicorn's supervisor get the same values.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import asdict, dataclass

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ..checks import check_float, check_int

LIMITS_ENV = "POLYMODAL_SERVE_LIMITS"
ARRIVAL = "polymodal.arrival"  # key in the ASGI scope's state: time.perf_counter() when the head was complete
SHED = "polymodal.shed"  # key in the ASGI scope's state: this request is to be answered 503 overloaded


@dataclass(frozen=True)
class ServerLimits:
    """Per-worker limits (defaults in brackets are what ``polymodal serve`` uses)."""

    max_request_line: int = 8192  # bytes of "GET /target HTTP/1.1"
    max_header_bytes: int = 16384  # bytes of the whole request head, request line included
    max_headers: int = 100
    header_timeout: float = 10.0  # seconds from the first byte (or the connection) to the end of the head
    keep_alive_timeout: float = 5.0  # idle seconds between requests on a kept-alive connection
    max_pending: int = 64  # requests waiting in this worker beyond which new ones get 503 overloaded
    max_connections: int = 2048  # open connections per worker beyond which new ones get 503 and are closed
    retry_after: int = 1  # seconds, sent with every 503
    graceful_timeout: float = 10.0  # seconds a SIGTERM waits for requests in flight

    def __post_init__(self):
        check_int("max_request_line", self.max_request_line, 64, 1 << 20)
        check_int("max_header_bytes", self.max_header_bytes, 256, 1 << 24)
        check_int("max_headers", self.max_headers, 1, 10_000)
        check_float("header_timeout", self.header_timeout, 0.01, 3600)
        check_float("keep_alive_timeout", self.keep_alive_timeout, 0.01, 3600)
        check_int("max_pending", self.max_pending, 1, 1 << 20)
        check_int("max_connections", self.max_connections, 1, 1 << 20)
        check_int("retry_after", self.retry_after, 0, 3600)
        check_float("graceful_timeout", self.graceful_timeout, 0, 3600)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServerLimits:
        raw = os.environ.get(LIMITS_ENV)
        return cls(**json.loads(raw)) if raw else cls()


def json_response(status: int, code: str, detail: str, extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    body = json.dumps({"error": code, "detail": detail}).encode()
    head = [STATUS_LINE[status], b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n", b"connection: close\r\n"]
    head += [name + b": " + value + b"\r\n" for name, value in extra]
    return b"".join(head) + b"\r\n" + body


class Reject(Exception):
    """Raised inside a parser callback; ``data_received`` turns it into the JSON answer."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@functools.cache
def process_limits() -> ServerLimits:
    """This process's limits, read from the environment the first time a connection needs them."""
    return ServerLimits.from_env()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection. State added to uvicorn's: bytes and headers of the current request head, and the
    header-read timer, armed when a connection opens or a request begins and cancelled when its head is complete."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = process_limits()
        self.head_bytes = 0
        self.header_count = 0
        self.in_head = True
        self.header_timer = None

    # --- connection lifecycle -------------------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.reject(503, "overloaded", "too many open connections; retry later")
            return
        self.arm_header_timer()

    def connection_lost(self, exc) -> None:
        self.cancel_header_timer()
        super().connection_lost(exc)

    def arm_header_timer(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.limits.header_timeout, self.header_timeout)

    def cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def header_timeout(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head is late; close after the answer in flight
            return
        self.reject(408, "request_timeout", f"request head not complete in {self.limits.header_timeout:g} s")

    def reject(self, status: int, code: str, detail: str) -> None:
        extra = ((b"retry-after", str(self.limits.retry_after).encode()),) if status == 503 else ()
        self.transport.write(json_response(status, code, detail, extra))
        self.transport.close()

    # --- bytes in -------------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self.parser is None or self.transport.is_closing():
            return
        if self.in_head:
            self.arm_header_timer()
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except Reject as exc:  # raised by feed_data's caller-side checks below
            self.reject(exc.status, exc.code, exc.detail)
            return
        except httptools.HttpParserUpgrade:
            self.reject(400, "bad_request", "protocol upgrades are not supported")
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, Reject):
                self.reject(cause.status, cause.code, cause.detail)
            else:
                self.reject(400, "bad_request", f"invalid HTTP/1.1 request: {exc}")
            return
        if self.in_head and self.head_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            self.reject(431, "headers_too_large", f"request head over {self.limits.max_header_bytes} bytes")

    def send_400_response(self, msg: str) -> None:  # uvicorn calls this for some protocol errors
        self.reject(400, "bad_request", msg)

    # --- parser callbacks -----------------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.header_count = 0
        self.arm_header_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            raise Reject(414, "uri_too_long", f"request target over {self.limits.max_request_line} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        if self.header_count > self.limits.max_headers:
            raise Reject(431, "headers_too_large", f"more than {self.limits.max_headers} headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        self.cancel_header_timer()
        # load shedding: the app's outermost layer answers 503 overloaded for a request marked here
        self.scope["state"][ARRIVAL] = time.perf_counter()
        self.scope["state"][SHED] = len(self.tasks) >= self.limits.max_pending
        super().on_headers_complete()
