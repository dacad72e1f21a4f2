"""Fixture-driven feed tests: every ``fixtures/<name>.<ext>`` is parsed and compared with the
hand-written ``fixtures/<name>.expect.json`` beside it.

Expectation keys (all optional): ``url``, ``content_type`` (inputs); ``error`` (expected
FeedParseError.error_class); ``format``, ``bozo``, ``title``, ``site_url``, ``description``,
``ttl_s``, ``entry_count``, ``bozo_reason_contains``, ``excludes_everywhere`` (strings that must
appear in no field); ``entries``: a list of ``{"index": i, <field>: value, ...}`` where a field
is any FeedEntry attribute (dates as ISO strings) or ``content_contains`` /
``content_excludes`` lists.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from worker.feeds import FeedParseError, ParsedFeed, parse_feed

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p for p in FIXTURES.iterdir() if not p.name.endswith(".expect.json"))


def _expectation(path: Path) -> dict[str, Any]:
    expect_path = path.with_name(path.name.rsplit(".", 1)[0] + ".expect.json")
    assert expect_path.exists(), f"fixture {path.name} has no expectation file"
    data: dict[str, Any] = json.loads(expect_path.read_text(encoding="utf-8"))
    return data


def _as_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def test_every_fixture_has_an_input() -> None:
    inputs = {p.name.rsplit(".", 1)[0] for p in CASES}
    for expect in FIXTURES.glob("*.expect.json"):
        assert expect.name.removesuffix(".expect.json") in inputs, expect.name


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_fixture(path: Path) -> None:
    expect = _expectation(path)
    url = expect.get("url", f"https://feeds.example.com/{path.name}")
    kwargs = {"url": url, "content_type": expect.get("content_type")}
    if "error" in expect:
        with pytest.raises(FeedParseError) as caught:
            parse_feed(path.read_bytes(), **kwargs)
        assert caught.value.error_class == expect["error"]
        assert str(caught.value)  # a readable message
        return

    feed = parse_feed(path.read_bytes(), **kwargs)
    assert isinstance(feed, ParsedFeed)
    for key in ("format", "bozo", "title", "site_url", "description", "ttl_s"):
        if key in expect:
            assert getattr(feed, key) == expect[key], key
    if "entry_count" in expect:
        assert len(feed.entries) == expect["entry_count"]
    if "bozo_reason_contains" in expect:
        assert expect["bozo_reason_contains"] in (feed.bozo_reason or "")
    everything = json.dumps(asdict(feed), default=str)
    for needle in expect.get("excludes_everywhere", []):
        assert needle not in everything
    for wanted in expect.get("entries", []):
        entry = feed.entries[wanted["index"]]
        for key, value in wanted.items():
            if key == "index":
                continue
            if key == "content_contains":
                for needle in value:
                    assert needle in (entry.content or ""), (needle, entry.content)
            elif key == "content_excludes":
                for needle in value:
                    assert needle not in (entry.content or ""), (needle, entry.content)
            else:
                assert _as_json(getattr(entry, key)) == value, (wanted["index"], key)
