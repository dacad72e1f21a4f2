"""Hostile servers: trickles, bombs, lying lengths. Each is cut off, memory stays bounded."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import brotli
import pytest

from tests.support.httpserver import LocalHTTPServer
from tests.worker.fetch import handlers
from tests.worker.fetch.conftest import TEST_CAP_BYTES
from worker.config import Settings
from worker.fetch import Fetcher, PermanentFetchError, ResponseTooLarge, TransientFetchError

BOMB_DECODED_BYTES = 512 * 1024 * 1024  # 512 MiB of zeros, 512x the test cap


def _zeros(total: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    block = bytes(chunk)
    for _ in range(total // chunk):
        yield block


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(block) for block in _zeros(BOMB_DECODED_BYTES)]
    return b"".join(parts) + compressor.flush()


@pytest.fixture(scope="module")
def brotli_bomb() -> bytes:
    compressor = brotli.Compressor(quality=5)
    parts: list[bytes] = [compressor.process(block) for block in _zeros(BOMB_DECODED_BYTES)]
    return b"".join(parts) + bytes(compressor.finish())


def _peak_during(fn: object) -> int:
    assert callable(fn)
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


# Deadline tests: the read timeout is an hour, so within the generous waits below only the
# total deadline can end the fetch; each error must say so, and the server must see the
# client hang up before it has sent everything (20 s and more of trickle). How soon after the
# deadline the fetch ends depends on the machine's load and is not asserted here.
NO_READ_TIMEOUT = {"read_timeout_s": 3600.0, "connect_timeout_s": 3600.0}
HANG_UP_WAIT_S = 120  # only fails a hung test: the hang-up comes a read after the deadline


def test_trickling_body_is_cut_by_total_deadline(
    server: LocalHTTPServer, settings: Settings
) -> None:
    # One byte every 0.2 s (100 bytes: 20 s) never trips a read timeout; the deadline must.
    hung_up = threading.Event()
    server.add_handler("/trickle", handlers.trickle(100, every_s=0.2, hung_up=hung_up))
    started = time.monotonic()
    with (
        Fetcher(settings.model_copy(update={"total_timeout_s": 1.5, **NO_READ_TIMEOUT})) as f,
        pytest.raises(TransientFetchError) as info,
    ):
        f.fetch(server.url("/trickle"))
    assert time.monotonic() - started >= 1.4  # not before the deadline (load only delays)
    assert info.value.error_class == "timeout"
    assert "total deadline of 1.5s exceeded" in str(info.value)
    assert hung_up.wait(HANG_UP_WAIT_S), "the server finished sending: nothing cut the body"


def test_trickling_headers_are_cut_by_total_deadline(
    server: LocalHTTPServer, settings: Settings
) -> None:
    hung_up = threading.Event()
    server.add_handler(
        "/trickle", handlers.trickle(100, every_s=0.2, headers_too=True, hung_up=hung_up)
    )
    with (
        Fetcher(settings.model_copy(update={"total_timeout_s": 1.5, **NO_READ_TIMEOUT})) as f,
        pytest.raises(TransientFetchError) as info,
    ):
        f.fetch(server.url("/trickle"))
    assert info.value.error_class == "timeout"
    assert "total deadline of 1.5s exceeded" in str(info.value)
    assert hung_up.wait(HANG_UP_WAIT_S), "the server finished sending: nothing cut the headers"


def test_deadline_spans_redirect_hops(server: LocalHTTPServer, settings: Settings) -> None:
    # Each hop answers in 0.6 s; four hops exceed a 1.5 s budget shared by all of them (a
    # budget per hop would let the chain end at /hop4).
    for i in range(4):
        server.add_handler(f"/hop{i}", _slow_redirect(0.6, f"/hop{i + 1}"))
    server.add("/hop4", "end")
    with (
        Fetcher(settings.model_copy(update={"total_timeout_s": 1.5, **NO_READ_TIMEOUT})) as f,
        pytest.raises(TransientFetchError) as info,
    ):
        f.fetch(server.url("/hop0"))
    assert info.value.error_class == "timeout"
    assert "total deadline of 1.5s exceeded" in str(info.value)
    assert server.requests_to("/hop4") == []


def _slow_redirect(delay: float, location: str) -> handlers.Handler:
    def handle(req: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        req.wfile.write(handlers.head(302, {"Location": location, "Content-Length": "0"}))

    return handle


def test_gzip_bomb_stops_at_cap_with_bounded_memory(
    server: LocalHTTPServer, fetcher: Fetcher, gzip_bomb: bytes
) -> None:
    assert len(gzip_bomb) < TEST_CAP_BYTES  # the raw cap alone would not catch it
    server.add("/bomb", gzip_bomb, headers={"Content-Encoding": "gzip"})

    def fetch() -> None:
        with pytest.raises(ResponseTooLarge) as info:
            fetcher.fetch(server.url("/bomb"))
        assert "decoded" in str(info.value)

    assert _peak_during(fetch) < 4 * TEST_CAP_BYTES


def test_brotli_bomb_stops_at_cap_with_bounded_memory(
    server: LocalHTTPServer, fetcher: Fetcher, brotli_bomb: bytes
) -> None:
    assert len(brotli_bomb) < 64 * 1024  # ~20000:1
    server.add("/bomb", brotli_bomb, headers={"Content-Encoding": "br"})

    def fetch() -> None:
        with pytest.raises(ResponseTooLarge):
            fetcher.fetch(server.url("/bomb"))

    assert _peak_during(fetch) < 4 * TEST_CAP_BYTES


def test_nested_encodings_bomb(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    # gzip inside brotli, as "Content-Encoding: gzip, br": 64 MiB of zeros.
    inner = gzip.compress(bytes(64 * 1024 * 1024), 9)
    server.add("/bomb", brotli.compress(inner), headers={"Content-Encoding": "gzip, br"})

    def fetch() -> None:
        with pytest.raises(ResponseTooLarge):
            fetcher.fetch(server.url("/bomb"))

    assert _peak_during(fetch) < 4 * TEST_CAP_BYTES


def test_compressed_body_within_cap_is_decoded(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    body = b"<item>story</item>" * 50_000  # 900 KB decoded, under the 1 MiB cap
    server.add("/ok", gzip.compress(body), headers={"Content-Encoding": "gzip"})
    assert fetcher.fetch(server.url("/ok")).content == body


def test_corrupt_gzip_is_a_decode_error(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/bad", b"\x1f\x8b\x08\x00garbage-not-deflate", headers={"Content-Encoding": "gzip"})
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/bad"))
    assert info.value.error_class == "decode_error"


def test_lying_short_content_length_reads_only_declared(
    server: LocalHTTPServer, fetcher: Fetcher
) -> None:
    # Declares 16 bytes, then pours 64 MiB: only the declared 16 bytes are the response.
    server.add_handler(
        "/liar",
        handlers.stream(
            [b"0123456789abcdef"] + [b"!" * 65536] * 1024, headers={"Content-Length": "16"}
        ),
    )

    def fetch() -> None:
        assert fetcher.fetch(server.url("/liar")).content == b"0123456789abcdef"

    assert _peak_during(fetch) < 4 * TEST_CAP_BYTES


def test_lying_small_content_length_with_endless_chunked_body(
    server: LocalHTTPServer, fetcher: Fetcher
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(1024):
            yield b"10000\r\n" + b"c" * 0x10000 + b"\r\n"

    server.add_handler(
        "/chunked", handlers.stream(chunks(), headers={"Transfer-Encoding": "chunked"})
    )
    with pytest.raises(ResponseTooLarge):
        fetcher.fetch(server.url("/chunked"))


def test_lying_huge_gzip_content_length(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    # A compressed body's Content-Length says nothing about the decoded size: not trusted,
    # not refused up front either; the decoded cap decides.
    body = gzip.compress(b"fine " * 1000)
    server.add("/gz", body, headers={"Content-Encoding": "gzip"})
    assert fetcher.fetch(server.url("/gz")).content == b"fine " * 1000


def test_endless_header_line(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    # A status line, then one header that never ends: refused by the header size limit. A
    # client without one would read until the deadline (a "timeout"), or until the server
    # gave up (an "incomplete" response): "protocol" is the limit's verdict only.
    hung_up = threading.Event()
    server.add_handler(
        "/headers",
        handlers.endless(b"HTTP/1.1 200 OK\r\nX-Junk: ", b"a" * 65536, hung_up=hung_up),
    )
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/headers"))
    assert info.value.error_class == "protocol"
    assert hung_up.wait(HANG_UP_WAIT_S), "the client read the whole endless header"
