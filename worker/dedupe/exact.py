"""Layer 2: the same text, byte for byte once normalized.

Usage::

    content_hash("Hello,  World!\n") == content_hash("hello world")  # True
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Case-folded words joined by single spaces: immune to whitespace, punctuation and
    Unicode-composition differences that syndication and re-encoding introduce."""
    # The last text's result is kept: the story step normalizes one text twice in a row
    # (layer 2's hash, then layer 3's shingles).
    # (One tuple, replaced whole: threads never see one text with another's result.)
    global _last
    last = _last
    if last[0] == text:
        return last[1]
    normalized = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    _last = (text, normalized)
    return normalized


_last = ("", "")


def content_hash(text: str) -> str:
    """SHA-256 hex digest of the normalized text."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
