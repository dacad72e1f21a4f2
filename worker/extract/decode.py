"""Bytes of a web page into text, the way a browser would pick the charset.

Usage::

    from worker.extract.decode import decode_html

    text, encoding = decode_html(body, content_type="text/html; charset=iso-8859-1")

Order: byte-order mark, then the charset of the Content-Type header, then ``<meta charset>``
(or the ``http-equiv`` form) in the first bytes, then UTF-8 when the bytes are valid UTF-8,
then charset-normalizer's guess, and finally UTF-8 with replacement characters. A declared
charset that does not decode the bytes is skipped rather than trusted into mojibake.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

DEFAULT_SNIFF_BYTES = 4_096
"""How far into the page a ``<meta charset>`` is looked for (browsers: 1024, many pages: more)."""
DEFAULT_DETECT_BYTES = 64_000
"""Bytes handed to charset detection; enough to decide, cheap on large pages."""

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
# WHATWG Encoding Standard: these labels mean windows-1252 in every browser.
_WHATWG_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
                   "us-ascii": "cp1252", "ascii": "cp1252", "iso8859-1": "cp1252",
                   "x-user-defined": "cp1252", "utf8": "utf-8"}  # fmt: skip


def decode_html(data: bytes, content_type: str | None = None) -> tuple[str, str]:
    """``(text, encoding)`` for the page bytes ``data`` (never raises on bad bytes)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace").lstrip("\ufeff"), encoding
    for candidate in (header_charset(content_type), _meta_charset(data)):
        declared = _known(candidate)
        if declared is not None:
            try:
                return data.decode(declared), declared
            except UnicodeDecodeError:
                continue
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[:DEFAULT_DETECT_BYTES]).best()
    if best is not None and best.encoding:
        try:
            return data.decode(best.encoding, errors="replace"), best.encoding
        except LookupError:
            pass
    return data.decode("utf-8", errors="replace"), "utf-8"


def header_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header value, if any."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET_RE.search(data[:DEFAULT_SNIFF_BYTES])
    return match.group(1).decode("ascii", "replace") if match else None


def _known(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A page cannot really be UTF-16 when we found its label in ASCII: browsers read UTF-8.
    return "utf-8" if name.startswith(("utf-16", "utf-32")) else name
