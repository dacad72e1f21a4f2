"""SSRF: non-public destinations are refused on the address actually connected to.

The local server is on 127.0.0.1, which the real policy refuses. Tests that need a
"public" server to start from (redirect hops, DNS rebinding) patch the policy so that
exactly 127.0.0.1 counts as public; every other address keeps the real verdict, and an
"internal" server really listens on 127.0.0.2 to prove no byte reaches it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.fetch import BlockedDestination, Fetcher, PermanentFetchError
from worker.fetch import transport as transport_module
from worker.fetch.destinations import refusal_reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "cgnat"),
        ("100.127.255.254", "cgnat"),
        ("169.254.169.254", "link_local"),  # cloud metadata endpoint
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation range: not global
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "ipv4_mapped"),
        ("::ffff:8.8.8.8", "ipv4_mapped"),
        ("::127.0.0.1", "ipv4_compatible"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link_local"),
        ("fec0::1", "site_local"),
        ("ff02::1", "multicast"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("2001:db8::1", "reserved"),  # documentation
    ],
)
def test_policy_refuses(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808"]
)
def test_policy_allows_public(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_scoped_link_local_refused() -> None:
    assert refusal_reason(ipaddress.ip_address("fe80::1%1")) == "link_local"


# --- refused for real, with the default setting --------------------------------------------


@pytest.fixture
def strict_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_networks": False})


@pytest.mark.parametrize(
    ("host", "error_class"),
    [
        ("127.0.0.1", "blocked_destination"),
        ("localhost", "blocked_destination"),
        ("2130706433", "blocked_destination"),  # 127.0.0.1 as one decimal number
        ("0x7f.1", "blocked_destination"),  # hex and short dotted form
        ("127.1", "blocked_destination"),
        ("0x7f000001", "blocked_destination"),
        ("[::ffff:127.0.0.1]", "blocked_destination"),  # IPv4-mapped IPv6
        ("[::ffff:7f00:1]", "blocked_destination"),
        ("[::1]", "blocked_destination"),
        ("0.0.0.0", "blocked_destination"),  # "this host": reaches local listeners on Linux
        ("0177.0.0.1", "bad_url"),  # octal dotted quad: httpx refuses to parse it at all
    ],
)
def test_loopback_spellings_are_refused(
    server: LocalHTTPServer, strict_settings: Settings, host: str, error_class: str
) -> None:
    server.add("/secret", "internal data")
    with Fetcher(strict_settings) as fetcher, pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(f"http://{host}:{server.port}/secret")
    assert info.value.error_class == error_class
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://[fd00::1]/",
    ],
)
def test_private_ranges_are_refused_without_connecting(strict_settings: Settings, url: str) -> None:
    # These addresses are not routable here: a connect attempt would time out (2 s) or be
    # refused as a *transient* error. A refusal is immediate and permanent.
    with Fetcher(strict_settings) as fetcher, pytest.raises(BlockedDestination):
        fetcher.fetch(url)


def test_allow_private_networks_setting(server: LocalHTTPServer, settings: Settings) -> None:
    server.add("/ok", "intranet feed")
    assert settings.allow_private_networks
    with Fetcher(settings) as fetcher:
        assert fetcher.fetch(f"http://localhost:{server.port}/ok").content == b"intranet feed"


# --- a "public" 127.0.0.1 and an internal 127.0.0.2 ----------------------------------------


class InternalServer:
    """A real HTTP server on 127.0.0.2 that must never be reached; counts connections."""

    def __init__(self, port: int = 0) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = b"internal secret"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.2", port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let 127.0.0.1 (the test server) count as public; nothing else changes."""
    real = refusal_reason

    def policy(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        if address == ipaddress.IPv4Address("127.0.0.1"):
            return None
        return real(address)

    monkeypatch.setattr(transport_module, "refusal_reason", policy)


@pytest.fixture
def internal(server: LocalHTTPServer) -> Iterator[InternalServer]:
    # Same port as the public server, so a rebound name reaches it with the same URL.
    internal_server = InternalServer(server.port)
    yield internal_server
    internal_server.close()


@pytest.mark.usefixtures("public_loopback")
def test_public_start_works_under_patched_policy(
    server: LocalHTTPServer, strict_settings: Settings
) -> None:
    server.add("/feed", "public feed")
    with Fetcher(strict_settings) as fetcher:
        assert fetcher.fetch(server.url("/feed")).content == b"public feed"


@pytest.mark.usefixtures("public_loopback")
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_hop_is_checked(
    server: LocalHTTPServer, internal: InternalServer, strict_settings: Settings, status: int
) -> None:
    server.add(
        "/feed", status=status, headers={"Location": f"http://127.0.0.2:{internal.port}/admin"}
    )
    with Fetcher(strict_settings) as fetcher, pytest.raises(BlockedDestination) as info:
        fetcher.fetch(server.url("/feed"))
    assert info.value.url == f"http://127.0.0.2:{internal.port}/admin"
    assert internal.hits == []
    assert len(server.requests_to("/feed")) == 1


@pytest.mark.usefixtures("public_loopback")
def test_redirect_to_numeric_trick_is_refused(
    server: LocalHTTPServer, internal: InternalServer, strict_settings: Settings
) -> None:
    # 2130706434 == 127.0.0.2
    server.add("/feed", status=302, headers={"Location": f"http://2130706434:{internal.port}/"})
    with Fetcher(strict_settings) as fetcher, pytest.raises(BlockedDestination):
        fetcher.fetch(server.url("/feed"))
    assert internal.hits == []


def _scripted_resolver(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> list[str]:
    """Make ``name`` resolve to each of ``answers`` in turn (the last one repeats).

    DNS rebinding cannot be produced for real without a DNS server we control; this is
    the one fault injected by patching. Returns the log of answers given.
    """
    real = socket.getaddrinfo
    given: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            answer = answers[min(len(given), len(answers) - 1)]
            given.append(answer)
            return real(answer, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return given


@pytest.mark.usefixtures("public_loopback")
def test_dns_rebinding_connects_to_the_checked_address(
    server: LocalHTTPServer,
    internal: InternalServer,
    strict_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # First answer public, every later answer internal: an implementation that checks one
    # resolution and lets the connection resolve again would land on 127.0.0.2.
    given = _scripted_resolver(monkeypatch, "rebind.test", ["127.0.0.1", "127.0.0.2"])
    server.add("/feed", "public feed")
    url = f"http://rebind.test:{server.port}/feed"
    with Fetcher(strict_settings) as fetcher:
        assert fetcher.fetch(url).content == b"public feed"
    assert given == ["127.0.0.1"]  # resolved exactly once for the connection
    assert internal.hits == []

    # A new connection resolves again, gets the internal address, and is refused.
    with Fetcher(strict_settings) as fetcher, pytest.raises(BlockedDestination):
        fetcher.fetch(url)
    assert internal.hits == []


@pytest.mark.usefixtures("public_loopback")
def test_name_with_mixed_answers_uses_only_allowed_ones(
    server: LocalHTTPServer,
    internal: InternalServer,
    strict_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "mixed.test":
            return real("127.0.0.2", port, *args, **kwargs) + real(
                "127.0.0.1", port, *args, **kwargs
            )
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    server.add("/feed", "public feed")
    with Fetcher(strict_settings) as fetcher:
        response = fetcher.fetch(f"http://mixed.test:{server.port}/feed")
    assert response.content == b"public feed"
    assert internal.hits == []
