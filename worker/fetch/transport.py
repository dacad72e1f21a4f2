"""An httpx transport that resolves once, checks the address, and connects to that address.

Usage::

    transport = GuardedTransport(ssl_context=ctx, allow_private_networks=False)
    client = httpx.Client(transport=transport, follow_redirects=False)
    with deadline(30.0):                  # every socket operation inside shares this budget
        client.get("https://example.com/")

Why a custom network backend rather than a check before the request: a name checked and
then resolved again by the connection can answer differently the second time (DNS
rebinding). Here the name is resolved exactly once, every candidate address is judged by
``destinations.refusal_reason``, and the socket is opened to that very address. TLS still
runs against the *hostname* (httpcore passes it as SNI and for certificate verification),
so pinning the address weakens nothing.

The deadline is enforced inside the network stream: each connect, TLS handshake, read and
write gets at most the time left, so a server that trickles one byte per second (never
tripping the read timeout) is cut off when the whole response's budget is spent.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from worker.fetch.destinations import parse_ip, refusal_reason

#: Connection pool limits of one Fetcher (httpx's defaults).
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_KEEPALIVE_CONNECTIONS = 20
DEFAULT_KEEPALIVE_EXPIRY_S = 5.0


class DestinationRefused(Exception):
    """Raised while connecting: every address of the host is refused by the policy."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"{host} resolves to {address} ({reason}): refused")
        self.host = host
        self.address = address
        self.reason = reason


class DeadlineExceeded(httpcore.ReadTimeout):
    """The total deadline of the current fetch ran out (a timeout, for httpx/httpcore)."""


@dataclass
class Deadline:
    """A point on the monotonic clock; ``extend`` moves it (time spent waiting politely)."""

    at: float
    total_s: float

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def extend(self, seconds: float) -> None:
        self.at += seconds


_CURRENT_DEADLINE: ContextVar[Deadline | None] = ContextVar("storywire_deadline", default=None)


@contextlib.contextmanager
def deadline(total_s: float) -> Iterator[Deadline]:
    """Every socket operation in this block (this thread/context) shares ``total_s``."""
    current = Deadline(time.monotonic() + total_s, total_s)
    token = _CURRENT_DEADLINE.set(current)
    try:
        yield current
    finally:
        _CURRENT_DEADLINE.reset(token)


def _budget(timeout: float | None) -> float | None:
    current = _CURRENT_DEADLINE.get()
    if current is None:
        return timeout
    left = current.remaining()
    if left <= 0:
        raise DeadlineExceeded(f"total deadline of {current.total_s:g}s exceeded")
    return left if timeout is None else min(timeout, left)


@contextlib.contextmanager
def _blame_deadline() -> Iterator[None]:
    # A timeout that fired because the clamp to the deadline was shorter than the
    # configured timeout is reported as the deadline, so the error says what happened.
    try:
        yield
    except httpcore.TimeoutException as exc:
        current = _CURRENT_DEADLINE.get()
        if current is not None and current.remaining() <= 0.01:
            raise DeadlineExceeded(f"total deadline of {current.total_s:g}s exceeded") from exc
        raise


class _DeadlineStream(httpcore.NetworkStream):
    """Wraps a connected stream so every operation respects the current deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _blame_deadline():
            return self._inner.read(max_bytes, _budget(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _blame_deadline():
            self._inner.write(buffer, _budget(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        with _blame_deadline():
            inner = self._inner.start_tls(ssl_context, server_hostname, _budget(timeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Resolve once, refuse non-public addresses (unless allowed), connect to the address."""

    def __init__(self, *, allow_private_networks: bool, trusted_hosts: Iterable[str] = ()) -> None:
        self._allow_private = allow_private_networks
        # The configured proxy: the operator's own choice, on whatever network it lives.
        self._trusted = frozenset(trusted_hosts)
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host in self._trusted:
            allowed = _resolve(host, port)
        else:
            allowed = allowed_addresses(host, port, allow_private_networks=self._allow_private)
        error: Exception | None = None
        for address in allowed:  # like socket.create_connection: first one that answers
            try:
                with _blame_deadline():
                    stream = self._sockets.connect_tcp(
                        address, port, _budget(timeout), local_address, socket_options
                    )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream)
        assert error is not None
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not a fetch destination")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def allowed_addresses(host: str, port: int, *, allow_private_networks: bool) -> list[str]:
    """The addresses ``host`` resolves to that may be connected to, in the resolver's order.

    Raises :class:`DestinationRefused` when the policy refuses every one of them, and
    ``httpcore.ConnectError`` when the name does not resolve.
    """
    allowed: list[str] = []
    refused: tuple[str, str] | None = None
    for address in _resolve(host, port):
        parsed = parse_ip(address)
        reason = "unparseable" if parsed is None else refusal_reason(parsed)
        if reason is None or allow_private_networks:
            allowed.append(address)
        elif refused is None:
            refused = (address, reason)
    if not allowed:
        assert refused is not None
        raise DestinationRefused(host, *refused)
    return allowed


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc.strerror}") from exc
    except UnicodeError as exc:
        raise httpcore.ConnectError(f"invalid host name {host!r}") from exc
    seen: dict[str, None] = {}  # ordered set: keep the resolver's preference order
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen[str(sockaddr[0])] = None
    if not seen:
        raise httpcore.ConnectError(f"{host!r} has no address")
    return list(seen)


class GuardedTransport(httpx.BaseTransport):
    """httpx transport over an httpcore pool that uses :class:`PinnedBackend`.

    ``proxy`` (opt-in, ``STORYWIRE_HTTP_PROXY``): every request goes through that HTTP proxy
    (plain HTTP forwarded, HTTPS tunnelled with CONNECT, TLS still verified end to end). The
    target's name is resolved and judged here before each request, as without a proxy; the
    proxy resolves it again to connect, so a name whose answer changes in between (DNS
    rebinding) is the proxy's to refuse: point it at a proxy that refuses internal addresses.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        allow_private_networks: bool,
        proxy: str | None = None,
    ) -> None:
        self._allow_private = allow_private_networks
        self._proxied = proxy is not None
        proxy_host = httpx.URL(proxy).host if proxy else None
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            proxy=httpcore.Proxy(proxy) if proxy else None,
            max_connections=DEFAULT_MAX_CONNECTIONS,
            max_keepalive_connections=DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=DEFAULT_KEEPALIVE_EXPIRY_S,
            http1=True,
            http2=False,
            network_backend=PinnedBackend(
                allow_private_networks=allow_private_networks,
                trusted_hosts=[proxy_host] if proxy_host else [],
            ),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        if self._proxied:
            port = request.url.port or (443 if request.url.scheme == "https" else 80)
            allowed_addresses(request.url.host, port, allow_private_networks=self._allow_private)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        core_response = self._pool.handle_request(core_request)
        assert isinstance(core_response.stream, Iterable)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    # httpcore exceptions are passed through as they are: the Fetcher classifies both
    # httpcore and httpx exception types.
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
