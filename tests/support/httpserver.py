"""A real HTTP server on 127.0.0.1 for tests: routes map a path to a response or a handler.

Usage::

    with LocalHTTPServer() as server:
        server.add("/feed.xml", body=b"<rss>...</rss>", content_type="application/rss+xml")
        server.add_handler("/slow", lambda req: ...)   # full control over the socket
        url = server.url("/feed.xml")
        server.requests  # every request seen: (method, path, headers)

    with ConnectionTrap() as trap:        # a port that must never be connected to
        code_that_must_not_connect(f"http://127.0.0.1:{trap.port}/")
        assert trap.connections() == 0
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[BaseHTTPRequestHandler], None]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response (deadlines, size caps) are what many tests do
        # on purpose: not worth a traceback. Anything else is still reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalHTTPServer:
    """``host``: the loopback address to serve on (127.0.0.1; any 127.x.y.z is another host
    to the pipeline, with its own rate limit and robots.txt)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: dict[str, Route | Handler] = {}
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, each response would wait
            # ~40 ms for the delayed ACK, capping a fetch loop at ~20 requests/s.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        SeenRequest(
                            "GET", self.path, {k.lower(): v for k, v in self.headers.items()}
                        )
                    )
                    route = server.routes.get(self.path) or server.routes.get(
                        self.path.split("?")[0]
                    )
                if route is None:
                    self._send(Route(404, b"not found", {"Content-Type": "text/plain"}))
                elif isinstance(route, Route):
                    self._send(route)
                else:
                    route(self)

            def do_HEAD(self) -> None:
                self.do_GET()

            def _send(self, route: Route) -> None:
                etag = route.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(route.status)
                headers = {"Content-Length": str(len(route.body)), **route.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(route.body)

        self._server = _QuietServer((host, 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(status, data, {"Content-Type": content_type, **(headers or {})})

    def add_handler(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def requests_to(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ConnectionTrap:
    """A listening socket on 127.0.0.1 that nobody accepts from.

    A TCP connect to it completes in the kernel's backlog before ``connect()`` returns, so
    once the code under test has returned, :meth:`connections` (a non-blocking accept of
    whatever is queued) has seen every attempt: no thread, no waiting, however busy the
    machine.
    """

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.setblocking(False)
        self.port = int(self._sock.getsockname()[1])

    def connections(self) -> int:
        """How many connections were made since the last call."""
        count = 0
        while True:
            try:
                conn, _ = self._sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> ConnectionTrap:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
