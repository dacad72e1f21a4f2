"""`storywire status`: one screen, or JSON; a part that cannot be read does not hide the rest."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.worker.cli.conftest import ok
from worker.config import get_settings


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_status_json_and_screen(cli: CliRunner) -> None:
    ok(cli, "feeds", "add", "--no-check", "https://a.example/rss", "https://b.example/rss")
    ok(cli, "feeds", "disable", "2")
    snapshot = json.loads(ok(cli, "status", "--json"))
    assert snapshot["feeds"] == {
        "total": 2, "ok": 1, "erroring": 0, "gone": 0, "disabled": 1, "due_now": 1, "overdue": 0,
    }  # fmt: skip
    assert snapshot["queues"] == {"feeds": 0, "articles": 0, "stories": 0}
    assert snapshot["articles"] == {"last_hour": 0, "last_day": 0, "by_status": {}}
    assert snapshot["stories"] == {"last_hour": 0, "last_day": 0}
    assert snapshot["changes"]["head_id"] == 3  # feed.created x2, feed.disabled
    assert snapshot["changes"]["age_s"] >= 0
    assert snapshot["beat"] == {"last_tick_at": None, "age_s": None}
    assert snapshot["workers"] == []
    assert snapshot["runs"] == []

    screen = ok(cli, "status")
    lines = dict(line.split(None, 1) for line in screen.splitlines() if line.strip())
    assert lines["feeds"].startswith("2 total: 1 ok, 0 erroring, 0 gone, 1 disabled; 1 due now")
    assert lines["queues"] == "feeds 0, articles 0, stories 0 waiting"
    assert lines["changes"].startswith("head 3, ")
    assert lines["beat"] == "no tick recorded"
    assert lines["workers"] == "none alive"


def test_a_broken_part_leaves_the_rest(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, dead_port: int
) -> None:
    ok(cli, "feeds", "add", "--no-check", "https://a.example/rss")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{dead_port}/0")
    get_settings.cache_clear()
    snapshot = json.loads(ok(cli, "status", "--json"))
    assert set(snapshot["queues"]) == {"error"}
    assert snapshot["feeds"]["total"] == 1
    assert "queues    unavailable: " in ok(cli, "status")
