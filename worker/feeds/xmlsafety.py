"""Take the teeth out of a feed's DTD before any XML parser sees it.

Usage::

    from worker.feeds.xmlsafety import neutralize_dtd

    safe_bytes, changed = neutralize_dtd(body)

Why this exists: feedparser 6 protects itself only partly. Its strict (expat) pass does not
resolve external entities, but when that pass fails it re-parses with a "loose" parser that
expands any entity declared with a plain string value. A quadratic blow-up (one 50 kB entity
referenced 20,000 times) then builds a 1 GB title, for minutes and gigabytes of memory. Feeds
have no use for internal DTD subsets, so we remove them: the internal subset of the DOCTYPE,
stray ``<!ENTITY ...>``-style declarations and comments in the prolog (feedparser's own
entity scan even looks inside comments). The DOCTYPE's name and external id stay, as
feedparser uses them to tell Netscape RSS 0.91 apart; external DTDs are never fetched
(expat's external general entities are off in feedparser and we verify that in tests).
References to the removed entities are left as undefined entities: the feed turns bozo and the
loose parser keeps them as literal text.

Bytes pass through untouched unless the prolog holds a declaration to remove, so ordinary
feeds parse exactly as feedparser would parse them.
"""

from __future__ import annotations

import codecs
import re

DEFAULT_MAX_PROLOG_CHARS = 1_000_000
"""Past this much prolog we stop looking for the root element and drop the whole prolog."""

# Byte signatures of encodings in which "<" is not the single byte 0x3C.
_WIDE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # "<?xm" in EBCDIC, which feedparser also accepts
)
_DECL_KEYWORDS = ("doctype", "entity", "element", "attlist", "notation")
_NAME_START_RE = re.compile(r"<[\w]")
_DOCTYPE_HEAD_RE = re.compile(
    r"<!doctype\s+([^\s\[>]+)((?:\s+[^\s\[>\"']+|\s*\"[^\"]*\"|\s*'[^']*')*)", re.I
)
_DECL_TOKEN_RE = re.compile(r"[\"'\[\]>]|<!--")
_XML_DECL_RE = re.compile(r"<\?xml[\s?].*?\?>", re.S)


def neutralize_dtd(data: bytes) -> tuple[bytes, bool]:
    """``data`` with internal DTD subsets and prolog declarations removed.

    Returns the (possibly) rewritten bytes, in the same encoding, and whether anything changed.
    """
    codec = _wide_codec(data)
    if codec is None:
        # ASCII-compatible encodings (UTF-8, Latin-x, Shift_JIS, ...): every character that
        # matters here is a single ASCII byte, and latin-1 maps bytes to code points 1:1.
        if b"<!" not in data[:DEFAULT_MAX_PROLOG_CHARS]:
            return data, False
        text = data.decode("latin-1")
        rewritten = _rewrite_prolog(text)
        return (data, False) if rewritten is None else (rewritten.encode("latin-1"), True)
    text = data.decode(codec, errors="replace")
    rewritten = _rewrite_prolog(text)
    if rewritten is None:
        return data, False
    return rewritten.encode(codec, errors="replace"), True


def _wide_codec(data: bytes) -> str | None:
    for signature, codec in _WIDE_SIGNATURES:
        if data.startswith(signature):
            return codec
    return None


def _rewrite_prolog(text: str) -> str | None:
    """The document with a cleaned prolog, or ``None`` when the prolog needs no change."""
    end, doctype, dangerous = _scan_prolog(text)
    if not dangerous:
        return None
    keep = ""
    stripped = text.lstrip("\ufeff")
    bom = text[: len(text) - len(stripped)]
    # Keep the XML declaration: it may carry the only word on the document's encoding.
    declaration = _XML_DECL_RE.search(text, 0, end)
    if declaration is not None:
        keep = declaration.group(0) + "\n"
    if doctype:
        keep += doctype + "\n"
    return bom + keep + text[end:]


def _scan_prolog(text: str) -> tuple[int, str | None, bool]:
    """Walk the prolog: (index of the root element, a safe DOCTYPE or None, anything to strip?)."""
    pos = 0
    limit = min(len(text), DEFAULT_MAX_PROLOG_CHARS)
    doctype: str | None = None
    dangerous = False
    while pos < limit:
        lt = text.find("<", pos, limit)
        if lt == -1:
            return limit, doctype, dangerous
        if _NAME_START_RE.match(text, lt):
            return lt, doctype, dangerous
        if text.startswith("<?", lt):
            close = text.find("?>", lt + 2)
            pos = len(text) if close == -1 else close + 2
        elif text.startswith("<!--", lt):
            close = text.find("-->", lt + 4)
            end = len(text) if close == -1 else close + 3
            # feedparser's entity scan reads inside comments too, so a comment is only kept
            # when it cannot smuggle a declaration.
            if "<!entity" in text[lt + 4 : end].lower():
                dangerous = True
            pos = end
        elif text.startswith("<!", lt):
            keyword = text[lt + 2 : lt + 12].lower()
            end = _declaration_end(text, lt)
            if keyword.startswith("doctype"):
                head = _DOCTYPE_HEAD_RE.match(text, lt)
                has_subset = "[" in text[head.end() if head else lt : end]
                if has_subset or doctype is not None or head is None:
                    dangerous = True
                if head is not None and doctype is None:
                    doctype = head.group(0).strip() + ">"
            elif keyword.startswith(_DECL_KEYWORDS):
                dangerous = True
            pos = end
        else:
            pos = lt + 1
    # No root element within the limit: drop the whole scanned region if it declares anything.
    return limit, doctype, dangerous


def _declaration_end(text: str, start: int) -> int:
    """Index just past a ``<!...>`` declaration, skipping quoted strings and ``[...]`` subsets."""
    pos = start + 2
    depth = 0
    while True:
        match = _DECL_TOKEN_RE.search(text, pos)
        if match is None:
            return len(text)
        found = match.group(0)
        if found in ('"', "'"):
            close = text.find(found, match.end())
            if close == -1:
                return len(text)
            pos = close + 1
        elif found == "<!--":
            close = text.find("-->", match.end())
            if close == -1:
                return len(text)
            pos = close + 3
        elif found == "[":
            depth += 1
            pos = match.end()
        elif found == "]":
            depth = max(0, depth - 1)
            pos = match.end()
        else:  # ">"
            if depth == 0:
                return match.end()
            pos = match.end()
