"""CLI conventions: --version, --json, plain piped output, errors for bad choices, plain
help, and a start-up that does not import the heavy parts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from models import ArticleStatus, FeedStatus
from tests.support.httpserver import LocalHTTPServer
from tests.worker.cli.conftest import ok
from worker.celery_app import QUEUES
from worker.cli import app
from worker.cli.articles import Status
from worker.cli.feeds import _STATUS_STYLE
from worker.cli.service import ALL_QUEUES

#: Modules `storywire --help` must not pay for.
HEAVY = ("trafilatura", "celery", "sqlalchemy", "pydantic_settings", "prometheus_client", "httpx")


def _all_commands() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():  # a group (Typer's click)
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_importing_the_cli_imports_nothing_heavy() -> None:
    code = f"import sys, worker.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "storywire")
def test_help_has_no_type_placeholders(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert not re.search(r"<[a-z\[\]|]+>|\{[a-z]+\}", result.output), result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"storywire \d+\.\d+\.\d+\S*\n", result.output), result.output


def test_status_choices_mirror_the_model() -> None:
    assert [s.value for s in Status] == [s.value for s in ArticleStatus]
    assert list(_STATUS_STYLE) == [s.value for s in FeedStatus]
    assert ",".join(QUEUES) == ALL_QUEUES


def test_unknown_article_status_is_an_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["articles", "list", "--status", "bogus"])
    assert result.exit_code == 2
    assert "bogus" in result.output and "pending" in result.output


def test_lists_are_plain_when_piped_and_json_on_request(cli: CliRunner) -> None:
    ok(cli, "feeds", "add", "--no-check", "https://news.example/rss", "https://b.example/atom")
    listing = ok(cli, "feeds", "list")
    header, *rows = listing.splitlines()
    assert header.split("\t")[:3] == ["id", "url", "status"]
    assert [r.split("\t")[1:3] for r in rows] == [
        ["https://news.example/rss", "active"],
        ["https://b.example/atom", "active"],
    ]
    assert not set("│┃━─") & set(listing)

    feeds = json.loads(ok(cli, "feeds", "list", "--json"))
    assert [f["url"] for f in feeds] == ["https://news.example/rss", "https://b.example/atom"]
    assert json.loads(ok(cli, "feeds", "log", "1", "--json"))["feed"]["id"] == 1
    for command in (["articles", "list"], ["stories", "list"], ["runs", "list"]):
        assert isinstance(json.loads(ok(cli, *command, "--json")), list), command
    assert json.loads(ok(cli, "runs", "list", "--json")) == []


def test_feeds_add_reports_every_bad_url_and_adds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker.config import get_settings

    monkeypatch.delenv("STORYWIRE_ALLOW_PRIVATE_NETWORKS", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "feeds", "add", "--no-check", "notaurl", "https://fine.example/feed",
            "ftp://files.example/feed", "http://127.0.0.1:8080/feed.xml", "http://[::1]/rss",
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("notaurl: ") for line in lines), result.output
    assert any(line.startswith("ftp://files.example/feed: ") for line in lines)
    blocked = next(line for line in lines if line.startswith("http://127.0.0.1:8080/feed.xml"))
    assert "loopback" in blocked and "STORYWIRE_ALLOW_PRIVATE_NETWORKS=1" in blocked
    assert any(line.startswith("http://[::1]/rss") and "loopback" in line for line in lines)
    assert "4 URLs cannot be added; nothing was added" in result.output
    assert "Traceback" not in result.output
    assert json.loads(ok(runner, "feeds", "list", "--json")) == []


def test_feeds_disable_and_enable(cli: CliRunner) -> None:
    ok(cli, "feeds", "add", "--no-check", "https://news.example/rss")
    assert "disabled 1" in ok(cli, "feeds", "disable", "1")
    assert json.loads(ok(cli, "feeds", "list", "--json"))[0]["status"] == "disabled"
    assert "next check" in ok(cli, "feeds", "log", "1") and "never" in ok(cli, "feeds", "log", "1")
    assert "enabled 1" in ok(cli, "feeds", "enable", "https://news.example/rss")
    assert json.loads(ok(cli, "feeds", "list", "--json"))[0]["status"] == "active"
    missing = cli.invoke(app, ["feeds", "disable", "1", "99"])
    assert missing.exit_code == 1 and "'99'" in missing.output
    assert json.loads(ok(cli, "feeds", "list", "--json"))[0]["status"] == "active"
    kinds = [json.loads(line)["kind"] for line in ok(cli, "changes").splitlines()]
    assert kinds == ["feed.created", "feed.disabled", "feed.enabled"]


def test_extract_fetches_a_url_through_the_guarded_fetcher(
    http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.site import STORIES, page_html
    from worker.config import get_settings

    story = STORIES[0]
    http_server.add("/a1.html", page_html(story, http_server.url("/a1.html")))
    monkeypatch.delenv("STORYWIRE_ALLOW_PRIVATE_NETWORKS", raising=False)
    get_settings.cache_clear()
    refused = CliRunner().invoke(app, ["extract", http_server.url("/a1.html")])
    assert refused.exit_code == 1
    assert "STORYWIRE_ALLOW_PRIVATE_NETWORKS=1" in refused.output

    monkeypatch.setenv("STORYWIRE_ALLOW_PRIVATE_NETWORKS", "1")
    get_settings.cache_clear()
    record = json.loads(ok(CliRunner(), "extract", http_server.url("/a1.html?utm_source=x")))
    assert record["canonical_url"] == http_server.url("/a1.html")
    assert record["http_status"] == 200
    assert record["title"] == story.title

    missing = CliRunner().invoke(app, ["extract", "no/such/file.html"])
    assert missing.exit_code == 1 and "http:// or https:// URL" in missing.output
