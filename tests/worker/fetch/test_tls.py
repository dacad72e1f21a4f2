"""TLS is always verified: self-signed and wrong-name certificates fail clearly, no fallback.

Certificates are generated at test time with the ``openssl`` CLI (a throwaway CA, a
server certificate it signs for ``localhost``, and a self-signed one).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tests.worker.fetch.tlscerts import Certs, make_certs, tls_server
from worker.config import Settings
from worker.fetch import Fetcher, FetchError, PermanentFetchError


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    try:
        return make_certs(tmp_path_factory.mktemp("tls"))
    except RuntimeError as exc:
        pytest.fail(str(exc))


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
