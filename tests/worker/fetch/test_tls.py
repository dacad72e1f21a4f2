"""TLS is always verified: self-signed and wrong-name certificates fail clearly, no fallback.

Certificates are generated at test time with the ``openssl`` CLI (a throwaway CA, a
server certificate it signs for ``localhost``, and a self-signed one).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.fetch import Fetcher, FetchError, PermanentFetchError


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    self_signed_cert: Path
    self_signed_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is needed to generate test certificates")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Storywire Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d
    )
    (d / "server.ext").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        cwd=d,
    )
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "self.key",
        "-out",
        "self.pem",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        cwd=d,
    )
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key", d / "self.pem", d / "self.key")


@contextmanager
def tls_server(cert: Path, key: Path, sni_seen: list[str | None]) -> Iterator[LocalHTTPServer]:
    """The local test server, speaking HTTPS with ``cert``; records the SNI names sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        sni_seen.append(name)

    context.sni_callback = remember_sni
    server = LocalHTTPServer()
    # LocalHTTPServer has no TLS option: wrap its listening socket before it serves.
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    with server:
        server.add("/feed", "<rss>secure</rss>", content_type="application/rss+xml")
        yield server


def _trusting(ca: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    return context


def test_certificate_from_trusted_ca_verifies_on_hostname(certs: Certs, settings: Settings) -> None:
    sni: list[str | None] = []
    with (
        tls_server(certs.server_cert, certs.server_key, sni) as server,
        Fetcher(settings, ssl_context=_trusting(certs.ca)) as fetcher,
    ):
        response = fetcher.fetch(f"https://localhost:{server.port}/feed")
    assert response.content == b"<rss>secure</rss>"
    # Connected to the pinned 127.0.0.1, yet SNI (and verification) used the hostname.
    assert sni == ["localhost"]


def test_self_signed_certificate_is_refused(certs: Certs, settings: Settings) -> None:
    sni: list[str | None] = []
    with (
        tls_server(certs.self_signed_cert, certs.self_signed_key, sni) as server,
        Fetcher(settings) as fetcher,
        pytest.raises(PermanentFetchError) as info,
    ):
        fetcher.fetch(f"https://localhost:{server.port}/feed")
    assert info.value.error_class == "tls"
    assert "certificate" in str(info.value).lower()
    assert server.requests == []  # no request was sent, over TLS or otherwise


def test_untrusted_ca_is_refused(certs: Certs, settings: Settings) -> None:
    # The server certificate is fine, but its CA is not one we trust by default.
    with (
        tls_server(certs.server_cert, certs.server_key, []) as server,
        Fetcher(settings) as fetcher,
        pytest.raises(PermanentFetchError) as info,
    ):
        fetcher.fetch(f"https://localhost:{server.port}/feed")
    assert info.value.error_class == "tls"


def test_hostname_mismatch_is_refused(certs: Certs, settings: Settings) -> None:
    # Trusted CA, but the certificate names "localhost", not 127.0.0.1.
    with (
        tls_server(certs.server_cert, certs.server_key, []) as server,
        Fetcher(settings, ssl_context=_trusting(certs.ca)) as fetcher,
        pytest.raises(PermanentFetchError) as info,
    ):
        fetcher.fetch(f"https://127.0.0.1:{server.port}/feed")
    assert info.value.error_class == "tls"
    assert server.requests == []


def test_plain_http_to_tls_port_is_not_content(certs: Certs, settings: Settings) -> None:
    with (
        tls_server(certs.server_cert, certs.server_key, []) as server,
        Fetcher(settings) as fetcher,
        pytest.raises(FetchError) as info,
    ):
        fetcher.fetch(f"http://127.0.0.1:{server.port}/feed")
    assert info.value.error_class in {"protocol", "incomplete", "connect"}
