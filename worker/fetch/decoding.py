"""Content-Encoding decoders that never produce more than a small piece at a time.

Usage::

    pieces = decode_stream(raw_chunks, ["gzip"])      # iterator of small bytes pieces
    for piece in pieces:
        ...                                            # stop as soon as the total is too big

httpx's own decoders inflate a whole network chunk in one call: 64 KiB of a gzip bomb
becomes ~64 MiB, and a brotli bomb far more, before any size check can run. Here each
decompressor is asked for at most ``PIECE_BYTES`` of output per call (zlib ``max_length``,
brotli ``output_buffer_limit``), so a caller that stops at its cap holds about
cap + ``PIECE_BYTES`` in memory, whatever the compression ratio (brotli may overshoot its
limit by one internal block, still far below a megabyte).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence

import brotli

#: Decoded output asked of one decompressor call (zlib: exact; brotli: a soft limit).
PIECE_BYTES = 64 * 1024
#: The codings we advertise in Accept-Encoding and know how to undo.
ACCEPT_ENCODING = "gzip, deflate, br"

_GZIP_MAGIC = b"\x1f\x8b"


class DecodingError(ValueError):
    """The body is not valid data for its declared Content-Encoding."""


def parse_content_encoding(value: str | None) -> list[str]:
    """Codings in the order they were applied, ``identity`` and unknown tokens dropped.

    Unknown tokens (``Content-Encoding: utf-8`` is common) are ignored, as browsers and
    httpx do: the body is then passed on as is.
    """
    if not value:
        return []
    codings = []
    for token in value.lower().split(","):
        name = token.strip()
        if name in ("x-gzip",):
            name = "gzip"
        if name in _DECODERS:
            codings.append(name)
    return codings


def decode_stream(chunks: Iterable[bytes], codings: Sequence[str]) -> Iterator[bytes]:
    """Undo ``codings`` (as listed in Content-Encoding) over a stream of raw chunks."""
    stream: Iterable[bytes] = chunks
    for coding in reversed(codings):
        stream = _DECODERS[coding](stream)
    return iter(stream)


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # wbits 16+MAX: gzip framing. A body may hold several gzip members back to back
    # (concatenated files are valid gzip); each one gets a fresh decompressor.
    return _inflate(chunks, 16 + zlib.MAX_WBITS, multi_member=True)


def _deflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # "deflate" means zlib-wrapped data, but many servers send raw deflate: sniff the header.
    iterator = iter(chunks)
    head = b""
    for chunk in iterator:
        head += chunk
        if len(head) >= 2:
            break
    if not head:
        return iter(())
    wbits = zlib.MAX_WBITS if _looks_like_zlib(head) else -zlib.MAX_WBITS
    return _inflate(_prepend(head, iterator), wbits, multi_member=False)


def _looks_like_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _inflate(chunks: Iterable[bytes], wbits: int, *, multi_member: bool) -> Iterator[bytes]:
    decoder = zlib.decompressobj(wbits)
    carry = b""  # start of a next gzip member, too short yet to check its magic number
    try:
        for chunk in chunks:
            data = carry + chunk
            carry = b""
            while data:
                if decoder.eof:
                    if multi_member and len(data) < len(_GZIP_MAGIC):
                        carry = data
                        break
                    if not (multi_member and data.startswith(_GZIP_MAGIC)):
                        return  # trailing garbage after the stream: ignored, as curl does
                    decoder = zlib.decompressobj(wbits)
                out = decoder.decompress(data, PIECE_BYTES)
                data = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
                if out:
                    yield out
            # All input consumed, but output may still be pending inside zlib.
            while not decoder.eof:
                out = decoder.decompress(b"", PIECE_BYTES)
                if not out:
                    break
                yield out
    except zlib.error as exc:
        raise DecodingError(f"invalid compressed data: {exc}") from None
    # A stream cut before its end marker yields what it had: the transport has already
    # said whether the body arrived complete.


def _brotli(chunks: Iterable[bytes]) -> Iterator[bytes]:
    decoder = brotli.Decompressor()
    try:
        for chunk in chunks:
            if decoder.is_finished():
                return  # trailing bytes after the end of the stream are ignored
            out = decoder.process(chunk, output_buffer_limit=PIECE_BYTES)
            if out:
                yield out
            # With its output buffer full, brotli keeps the rest of its output (and maybe
            # input) inside: drain it with empty input before feeding the next chunk.
            while out and not decoder.is_finished():
                out = decoder.process(b"", output_buffer_limit=PIECE_BYTES)
                if out:
                    yield out
            if not decoder.can_accept_more_data():
                raise DecodingError("brotli decoder stalled")
    except brotli.error as exc:
        raise DecodingError(f"invalid brotli data: {exc}") from None


_DECODERS = {"gzip": _gzip, "deflate": _deflate, "br": _brotli}
