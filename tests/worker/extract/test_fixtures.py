"""Fixture-driven extraction tests: every ``fixtures/<name>.<ext>`` page is extracted and
compared with the hand-written ``fixtures/<name>.expect.json`` beside it.

Expectation keys: ``url`` (required), ``content_type``; ``error`` (expected
ExtractionError.error_class); any ExtractedPage field (dates as ISO strings);
``text_contains`` / ``text_excludes`` lists; ``paragraph_separator`` (paragraphs are separated
by one blank line).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from worker.extract import ExtractedPage, ExtractionError, extract_page

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p for p in FIXTURES.iterdir() if not p.name.endswith(".expect.json"))


def html_fixture_texts() -> list[str]:
    """The decoded text of every HTML fixture page (for tests of the parts of extraction)."""
    from worker.extract.decode import decode_html

    return [decode_html(p.read_bytes(), None)[0] for p in CASES if p.suffix == ".html"]


_SPECIAL = {"url", "content_type", "error", "text_contains", "text_excludes", "paragraph_separator"}


def _expectation(path: Path) -> dict[str, Any]:
    expect_path = path.with_name(path.name.rsplit(".", 1)[0] + ".expect.json")
    assert expect_path.exists(), f"fixture {path.name} has no expectation file"
    data: dict[str, Any] = json.loads(expect_path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_fixture(path: Path) -> None:
    expect = _expectation(path)
    kwargs = {"url": expect["url"], "content_type": expect.get("content_type")}
    if "error" in expect:
        with pytest.raises(ExtractionError) as caught:
            extract_page(path.read_bytes(), **kwargs)
        assert caught.value.error_class == expect["error"]
        return
    page = extract_page(path.read_bytes(), **kwargs)
    assert isinstance(page, ExtractedPage)
    text = page.text or ""
    for needle in expect.get("text_contains", []):
        assert needle in text, (needle, text)
    for needle in expect.get("text_excludes", []):
        assert needle.lower() not in text.lower(), (needle, text)
    if expect.get("paragraph_separator"):
        assert "\n\n" in text
        assert "\n\n\n" not in text
    for key, value in expect.items():
        if key in _SPECIAL:
            continue
        got = getattr(page, key)
        if isinstance(got, datetime):
            assert got.tzinfo is not None
            got = got.isoformat()
        assert got == value, key
