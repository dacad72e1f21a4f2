"""The storywire command, run in-process with Typer's runner on embedded defaults."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.e2e.site import STORIES, page_html, serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.worker.cli.conftest import ok
from worker.cli import app


def test_feeds_add_list_export_import_remove(cli: CliRunner, tmp_path: Path) -> None:
    out = ok(cli, "feeds", "add", "https://news.example/rss?utm_source=x", "https://b.example/atom")
    assert "added" in out
    assert "already registered" in ok(cli, "feeds", "add", "https://news.example/rss")
    listing = ok(cli, "feeds", "list")
    assert "news.example" in listing and "active" in listing

    opml = tmp_path / "feeds.opml"
    ok(cli, "feeds", "export", "--output", str(opml))
    assert b"https://news.example/rss" in opml.read_bytes()

    ok(cli, "feeds", "remove", "https://news.example/rss", "https://b.example/atom")
    assert "news.example" not in ok(cli, "feeds", "list")
    assert "2 added" in ok(cli, "feeds", "import", str(opml))

    bad = cli.invoke(app, ["feeds", "remove", "999"])
    assert bad.exit_code != 0


def test_fetch_inline_runs_the_whole_pipeline(cli: CliRunner, http_server: LocalHTTPServer) -> None:
    feeds = serve_site(http_server)
    http_server.add("/dead.xml", "no", status=500, content_type="text/plain")
    out = ok(cli, "fetch", "--inline", feeds["world"], feeds["local"], http_server.url("/dead.xml"))
    # Piped (not a terminal): tab-separated, a header line then the row.
    assert (
        "feeds\tfailed feeds\tnew articles\textracted\tfailed\tduplicates\n3\t1\t4\t4\t0\t0\n"
        in out
    )
    assert "dead.xml" not in out or "feed" in out

    listing = ok(cli, "articles", "list")
    assert "a3.html" in listing
    article = json.loads(ok(cli, "articles", "show", "1"))
    assert article["status"] == "ok"
    assert article["sources"]
    assert article["title"] in {s.title for s in STORIES}

    again = ok(cli, "fetch", "--inline", "--all")
    assert "\n3\t1\t0\t0\t0\t0\n" in again, again


def test_fetch_needs_feeds_or_all(cli: CliRunner) -> None:
    result = cli.invoke(app, ["fetch"])
    assert result.exit_code == 2


def test_extract_prints_what_would_be_stored(cli: CliRunner, tmp_path: Path) -> None:
    story = STORIES[2]
    page = tmp_path / "page.html"
    page.write_text(page_html(story, "https://daily.example/news/a3.html?utm_campaign=x"))
    record = json.loads(ok(cli, "extract", str(page), "--url", "https://daily.example/a3"))
    assert record["title"] == story.title
    assert record["authors"] == [story.author]
    assert record["published_source"] == "jsonld"
    assert story.paragraphs[1] in record["text"]
    # The article's key is the URL as linked, canonicalized, as the pipeline stores it (the
    # page's own rel=canonical is not the key).
    assert record["canonical_url"] == "https://daily.example/a3"
    assert record["url"] == "https://daily.example/a3"
    assert len(record["content_hash"]) == 64


def test_extract_prints_dates_as_stored_and_why_one_was_refused(
    cli: CliRunner, tmp_path: Path
) -> None:
    story = STORIES[2]
    html = page_html(story, "https://daily.example/a3").replace(
        "</title>",
        '</title><meta property="article:published_time" content="2026-03-02T10:30:00+02:00">'
        '<meta property="article:modified_time" content="2999-01-01T00:00:00Z">',
    )
    html = html.replace('"datePublished"', '"dateCreated"')  # only the meta dates the page
    page = tmp_path / "page.html"
    page.write_text(html)
    record = json.loads(ok(cli, "extract", str(page), "--url", "https://daily.example/a3"))
    assert (record["published_at"], record["published_source"]) == (
        "2026-03-02T08:30:00+00:00",
        "meta",
    )
    assert record["modified_at"] is None
    assert record["date_error"] == (
        "meta article:modified_time '2999-01-01T00:00:00Z': in the future"
    )
