"""Handlers for LocalHTTPServer that misbehave on purpose (raw socket control).

Each factory returns a ``Handler``: ``server.add_handler("/path", trickle(...))``. Those
taking ``hung_up`` set that event when the client closed the connection before the handler
had sent everything: the evidence that the client gave up (a deadline, a cap), observed on
the server's side whatever the machine's speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler

Handler = Callable[[BaseHTTPRequestHandler], None]


def _write(req: BaseHTTPRequestHandler, data: bytes) -> bool:
    try:
        req.wfile.write(data)
        req.wfile.flush()
    except OSError:  # the client hung up, as it should when it gives up
        return False
    return True


def raw(data: bytes) -> Handler:
    """Send ``data`` as is (no status line unless it contains one), then close."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.close_connection = True
        _write(req, data)

    return handle


def head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def stream(
    parts: Iterable[bytes],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    delay_s: float = 0.0,
) -> Handler:
    """Status and headers, then each of ``parts`` (``delay_s`` apart), then close.

    Without a Content-Length in ``headers`` the body is delimited by the close.
    """

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.close_connection = True
        if not _write(req, head(status, {"Connection": "close", **(headers or {})})):
            return
        for part in parts:
            if delay_s:
                time.sleep(delay_s)
            if not _write(req, part):
                return

    return handle


def trickle(
    total_bytes: int,
    *,
    every_s: float,
    headers_too: bool = False,
    hung_up: threading.Event | None = None,
) -> Handler:
    """One byte every ``every_s`` seconds: of the body, or of the headers too."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.close_connection = True
        prefix = head(200, {"Content-Length": str(total_bytes), "Content-Type": "text/plain"})
        if headers_too:
            payload = prefix + b"x" * total_bytes
        else:
            if not _write(req, prefix):
                _note(hung_up)
                return
            payload = b"x" * total_bytes
        for i in range(len(payload)):
            time.sleep(every_s)
            if not _write(req, payload[i : i + 1]):
                _note(hung_up)
                return

    return handle


def endless(
    prefix: bytes, filler: bytes, *, hung_up: threading.Event, limit_bytes: int = 1 << 30
) -> Handler:
    """``prefix``, then ``filler`` again and again until the client hangs up (or, so that a
    broken client cannot keep the server busy for good, ``limit_bytes`` were sent)."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.close_connection = True
        sent = 0
        data = prefix
        while sent < limit_bytes:
            if not _write(req, data):
                hung_up.set()
                return
            sent += len(data)
            data = filler

    return handle


def _note(hung_up: threading.Event | None) -> None:
    if hung_up is not None:
        hung_up.set()


def sleep_then(seconds: float, body: bytes = b"late") -> Handler:
    """Wait ``seconds`` before answering at all."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        _write(req, head(200, {"Content-Length": str(len(body))}) + body)

    return handle


def conditional(etag: str, last_modified: str, body: bytes) -> Handler:
    """304 when the request carries the matching validator, else 200 with validators."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        if req.headers.get("If-None-Match") == etag or (
            req.headers.get("If-Modified-Since") == last_modified
        ):
            _write(req, head(304, {"ETag": etag, "Content-Length": "0"}))
            return
        headers = {
            "ETag": etag,
            "Last-Modified": last_modified,
            "Content-Type": "application/rss+xml; charset=UTF-8",
            "Content-Length": str(len(body)),
        }
        _write(req, head(200, headers) + body)

    return handle
