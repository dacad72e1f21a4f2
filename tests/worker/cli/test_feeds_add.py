"""`storywire feeds add` discovers feeds through the guarded fetcher, on a real local site."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.support.httpserver import LocalHTTPServer
from tests.worker.cli.conftest import ok
from worker.cli import app

RSS = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
    "<link>https://site.example/</link><item><title>One</title>"
    "<link>https://site.example/one</link></item></channel></rss>"
)


def _page(head: str) -> str:
    return f"<!doctype html><html><head><title>Site</title>{head}</head><body>Hi</body></html>"


def test_feeds_add_finds_the_feeds_a_page_names(
    cli: CliRunner, http_server: LocalHTTPServer
) -> None:
    http_server.add(
        "/",
        _page(
            '<link rel="alternate" type="application/rss+xml" title="News" href="/news.xml">'
            '<link rel="alternate" type="application/atom+xml" href="/sport.atom">'
        ),
    )
    http_server.add("/news.xml", RSS.format(title="News"), content_type="application/rss+xml")
    http_server.add("/sport.atom", RSS.format(title="Sport"), content_type="application/rss+xml")

    result = cli.invoke(app, ["feeds", "add", http_server.url("/")])
    assert result.exit_code == 0, result.output
    assert (
        f"{http_server.url('/news.xml')}\tadded (found on {http_server.url('/')})" in result.output
    )
    assert "names 1 more" in result.output and "--all" in result.output
    feeds = json.loads(ok(cli, "feeds", "list", "--json"))
    assert [(f["url"], f["title"]) for f in feeds] == [(http_server.url("/news.xml"), "News")]

    ok(cli, "feeds", "add", "--all", http_server.url("/"))
    urls = [f["url"] for f in json.loads(ok(cli, "feeds", "list", "--json"))]
    assert urls == [http_server.url("/news.xml"), http_server.url("/sport.atom")]


def test_feeds_add_tries_the_usual_paths(cli: CliRunner, http_server: LocalHTTPServer) -> None:
    http_server.add("/blog/", _page(""))
    http_server.add("/rss.xml", RSS.format(title="Blog"), content_type="application/rss+xml")
    ok(cli, "feeds", "add", http_server.url("/blog/"))
    feeds = json.loads(ok(cli, "feeds", "list", "--json"))
    assert [f["url"] for f in feeds] == [http_server.url("/rss.xml")]


def test_a_feed_url_is_added_as_it_is(cli: CliRunner, http_server: LocalHTTPServer) -> None:
    http_server.add("/feed", RSS.format(title="Feed"), content_type="application/rss+xml")
    out = ok(cli, "feeds", "add", http_server.url("/feed"))
    assert f"{http_server.url('/feed')}\tadded\n" in out


def test_no_feed_and_wrong_urls_are_refused_together(
    cli: CliRunner, http_server: LocalHTTPServer
) -> None:
    http_server.add("/plain", _page(""))  # no <link>, and nothing at the usual paths
    result = cli.invoke(
        app, ["feeds", "add", http_server.url("/plain"), http_server.url("/gone"), "ftp://x/"]
    )
    assert result.exit_code == 2, result.output
    assert f"{http_server.url('/plain')}: no feed found" in result.output
    assert f"{http_server.url('/gone')}: HTTP 404" in result.output
    assert "ftp://x/: " in result.output
    assert "3 URLs cannot be added; nothing was added" in result.output
    assert json.loads(ok(cli, "feeds", "list", "--json")) == []
    # Unchecked, it is taken as given.
    assert "added" in ok(cli, "feeds", "add", "--no-check", http_server.url("/plain"))


def test_an_unreachable_url_is_added_with_a_warning(cli: CliRunner) -> None:
    result = cli.invoke(app, ["feeds", "add", "https://unresolvable.invalid/feed"])
    assert result.exit_code == 0, result.output
    assert "not checked now" in result.output and "added as given" in result.output
    assert "https://unresolvable.invalid/feed\tadded" in result.output
