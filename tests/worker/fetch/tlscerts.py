"""Throwaway TLS material for tests, made with the ``openssl`` CLI, and an HTTPS test server.

Usage::

    certs = make_certs(tmp_dir)          # a private CA, a server cert it signs for
                                         # "localhost", and a self-signed one
    with tls_server(certs.self_signed_cert, certs.self_signed_key, sni_seen) as server:
        server.url("/feed")              # http://...: use f"https://localhost:{server.port}"
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.httpserver import LocalHTTPServer


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    self_signed_cert: Path
    self_signed_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> Certs:
    """Generate the certificates into the directory ``d`` (the openssl CLI must exist)."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is needed to generate test certificates")
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
