"""Hostile feeds through ``refresh_feed``, served by the real local server: one case each.

Every case checks the RECORD the worker leaves (feed row, fetch log, articles), that
nothing is lost or stored twice (a second refresh adds nothing), and that memory stays
bounded. Time is not asserted (it depends on the machine's load): bench/hostile.py prints
each case's time next to a plain feed's. What the fetch layer and the parser do in isolation
is proven in tests/worker/fetch and tests/worker/feeds; here it is the same thing end to end.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tests.hostile import payloads
from tests.hostile.conftest import (
    SHORT_DEADLINE,
    FeedRecord,
    measure,
    record_of,
    refresh_and_record,
)
from tests.support.httpserver import LocalHTTPServer
from tests.worker.fetch import handlers
from worker.pipeline import refresh_feed
from worker.resources import Resources

Serve = Callable[[LocalHTTPServer], str]  # publishes the case, returns the feed's path
Check = Callable[[FeedRecord, LocalHTTPServer], None]
RSS = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True)
class FeedCase:
    name: str
    serve: Serve
    outcome: str  # feed_fetches.outcome: ok | bozo | error | gone ...
    error_class: str | None = None
    articles: int = 0
    status_code: int | None = 200
    check: Check | None = None
    max_mb: float = 40.0
    limits: dict[str, object] = field(default_factory=dict)  # replaced hostile limits


def _route(path: str, body: bytes | str, **kwargs: object) -> Serve:
    def serve(server: LocalHTTPServer) -> str:
        server.add(path, body, **kwargs)  # type: ignore[arg-type]
        return path

    return serve


def _handler(path: str, make: Callable[[LocalHTTPServer], handlers.Handler]) -> Serve:
    def serve(server: LocalHTTPServer) -> str:
        server.add_handler(path, make(server))
        return path

    return serve


def _redirect_loop(server: LocalHTTPServer) -> str:
    server.add("/loop-a", status=302, headers={"Location": "/loop-b"})
    server.add("/loop-b", status=302, headers={"Location": "/loop-a"})
    return "/loop-a"


def _redirect_chain(server: LocalHTTPServer) -> str:
    for hop in range(9):
        server.add(f"/hop/{hop}", status=301, headers={"Location": f"/hop/{hop + 1}"})
    server.add("/hop/9", payloads.plain_feed(server.url("")), content_type=RSS)
    return "/hop/0"


def _compressed(encoding: str, body: bytes) -> handlers.Handler:
    return handlers.stream(
        [body[i : i + 65536] for i in range(0, len(body), 65536)],
        headers={"Content-Type": RSS, "Content-Encoding": encoding,
                 "Content-Length": str(len(body))},
    )  # fmt: skip


def _endless(server: LocalHTTPServer) -> handlers.Handler:
    head = payloads.rss().split("</channel>")[0].encode()
    junk = (b"<item><title>more</title></item>" * 2048,) * 10_000  # ~650 MB if read whole
    return handlers.stream([head, *junk], headers={"Content-Type": RSS})


def _no_leak(record: FeedRecord, server: LocalHTTPServer) -> None:
    everything = (
        " ".join(f"{a.title} {a.summary} {a.text}" for a in record.articles)
        + f" {record.feed.title} {record.feed.description} {record.fetch.error_message}"
    )
    assert payloads.SECRET not in everything
    assert server.requests_to("/xxe-target") == []  # never fetched by an entity


def _not_expanded(record: FeedRecord, server: LocalHTTPServer) -> None:
    for article in record.articles:
        assert "lollollol" not in f"{article.title}{article.summary}"
        assert "x" * 1000 not in f"{article.title}{article.summary}"
    assert "lollollol" not in (record.feed.title or "")


def _capped_entries(record: FeedRecord, server: LocalHTTPServer) -> None:
    assert record.fetch.entries_seen == 1000  # max_entries_per_fetch
    assert len({a.canonical_url for a in record.articles}) == 1000


def _capped_field(record: FeedRecord, server: LocalHTTPServer) -> None:
    (article,) = record.articles
    assert article.summary is not None
    assert 50_000 < len(article.summary) <= 100_000  # max_field_chars
    assert len(record.sources[0].summary or "") <= 100_000


def _scrubbed(record: FeedRecord, server: LocalHTTPServer) -> None:
    (source,) = record.sources
    stored = f"{source.title} {source.summary} {source.content}"
    for bad in ("<script", "onerror", "onclick", "javascript:", "<iframe", "alert("):
        assert bad not in stored.lower(), bad
    assert "Real paragraph about the harbour." in (source.content or "")


def _first_items_kept(record: FeedRecord, server: LocalHTTPServer) -> None:
    by_title = {a.title: a for a in record.articles}
    assert by_title["Story 0"].url == server.url("/story/0.html")
    assert by_title["Story 1"].url == server.url("/story/1.html")
    # The cut item kept what it had (a title, no link): a link-less article, not a crash.
    assert by_title["Story 2"].url.startswith("urn:storywire:feed:")


def _read_as_announced(record: FeedRecord, server: LocalHTTPServer) -> None:
    assert record.fetch.bytes == 300  # the announced length, not the 10 kB sent


def _usable_text(record: FeedRecord, server: LocalHTTPServer) -> None:
    (article,) = record.articles
    assert article.title is not None and "Caf" in article.title and "Müller" in article.title


def _truncated(server: LocalHTTPServer) -> str:
    full = payloads.plain_feed(server.url(""), count=3)
    cut = full.index("<item><title>Story 2")  # mid-document, inside the channel
    server.add("/truncated.xml", full[: cut + 30], content_type=RSS)
    return "/truncated.xml"


def _lying_short(server: LocalHTTPServer) -> str:
    body = payloads.plain_feed(server.url(""), count=20).encode()
    # Says 300 bytes, sends 10 kB: only the announced 300 are read, the rest is not a
    # response; what was read is a feed cut short.
    server.add_handler(
        "/lying.xml",
        handlers.raw(handlers.head(200, {"Content-Type": RSS, "Content-Length": "300"}) + body),
    )
    return "/lying.xml"


WIN1252_TITLE = "Café Müller \N{EN DASH} news"

FEED_CASES = [
    FeedCase("redirect-loop", _redirect_loop, "error", "redirect_loop", status_code=302),
    FeedCase("redirect-chain-over-cap", _redirect_chain, "error", "too_many_redirects",
             status_code=None),
    FeedCase("slow-trickle", _handler("/trickle.xml", lambda s: handlers.trickle(
        10_000, every_s=0.1)), "error", "timeout", status_code=None, limits=SHORT_DEADLINE),
    FeedCase("no-headers", _handler("/bare.xml", lambda s: handlers.raw(
        b"HTTP/1.0 200 OK\r\n\r\n" + payloads.plain_feed(s.url("")).encode())), "ok",
        articles=2),
    # A body with no status line never completes a response: a transient "incomplete".
    FeedCase("no-status-line", _handler("/09.xml", lambda s: handlers.raw(
        payloads.plain_feed(s.url("")).encode())), "error", "incomplete", status_code=None),
    FeedCase("lying-content-length-short", _lying_short, "bozo", articles=1,
             check=_read_as_announced),
    FeedCase("endless-body", _handler("/endless.xml", _endless), "error", "too_large",
             status_code=200),
    FeedCase("content-length-over-cap", _route("/huge.xml", b"<rss/>", content_type=RSS,
             headers={"Content-Length": str(50 * 1024 * 1024)}), "error", "too_large",
             status_code=200),
    FeedCase("gzip-bomb", _handler("/gz.xml", lambda s: _compressed(
        "gzip", payloads.gzip_bomb())), "error", "too_large", status_code=200),
    FeedCase("brotli-bomb", _handler("/br.xml", lambda s: _compressed(
        "br", payloads.brotli_bomb())), "error", "too_large", status_code=200),
    FeedCase("billion-laughs", _route("/lol.xml", payloads.billion_laughs(), content_type=RSS),
             "bozo", articles=1, check=_not_expanded),
    FeedCase("quadratic-blowup", _route("/quad.xml", payloads.quadratic_blowup(),
             content_type=RSS), "bozo", articles=1, check=_not_expanded),
    FeedCase("empty-body", _route("/empty.xml", b"", content_type=RSS), "error", "empty"),
    FeedCase("html-instead-of-feed", _route("/page.html",
             "<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>Hi</h1>"
             "<p>Our news, in a page.</p></body></html>"), "error", "not_a_feed"),
    FeedCase("truncated-xml", _truncated, "bozo", articles=3, check=_first_items_kept),
    FeedCase("wrong-declared-charset", _route("/cp1252.xml", payloads.rss(
        payloads.item(WIN1252_TITLE, link="https://hostile.example/cafe"),
        encoding="utf-8").encode("cp1252"), content_type=RSS), "bozo", articles=1,
        check=_usable_text),
    FeedCase("fifty-thousand-entries", _route("/many.xml", payloads.fifty_thousand_entries(),
             content_type=RSS), "ok", articles=1000, check=_capped_entries,
             max_mb=150.0),
    FeedCase("five-mb-description", _route("/big-field.xml", payloads.huge_description(),
             content_type=RSS), "ok", articles=1, check=_capped_field, max_mb=80.0),
    FeedCase("script-and-onerror", _route("/scripted.xml", payloads.scripted_content(),
             content_type=RSS), "ok", articles=1, check=_scrubbed),
    FeedCase("challenge-403", _route("/challenge.xml", payloads.CHALLENGE_PAGE, status=403),
             "error", "challenge", status_code=403),
    FeedCase("gone-410", _route("/gone.xml", "gone", status=410, content_type="text/plain"),
             "gone", "gone", status_code=410),
]  # fmt: skip


@pytest.mark.parametrize("case", FEED_CASES, ids=lambda c: c.name)
def test_hostile_feed(
    case: FeedCase, hostile_resources_with: Callable[..., Resources], http_server: LocalHTTPServer
) -> None:
    rt = hostile_resources_with(**case.limits)
    path = case.serve(http_server)
    record = refresh_and_record(rt, http_server.url(path))

    # The record: the same story on the feed row, in the fetch log and in the result.
    assert (record.refresh.outcome, record.refresh.error_class) == (case.outcome, case.error_class)
    fetch = record.fetch
    assert (fetch.outcome, fetch.error_class) == (case.outcome, case.error_class)
    assert fetch.status_code == record.feed.last_status_code == case.status_code
    assert fetch.duration_ms is not None and fetch.duration_ms == record.feed.last_duration_ms
    assert fetch.entries_new == len(record.articles) == case.articles
    assert record.created_changes == case.articles  # one outbox fact per new article
    if case.error_class:
        assert record.feed.last_error_class == case.error_class
        assert record.feed.last_error and fetch.error_message == record.feed.last_error
        assert record.feed.consecutive_errors == 1
        assert record.feed.status == ("gone" if case.outcome == "gone" else "erroring")
    else:
        assert (record.feed.status, record.feed.consecutive_errors) == ("active", 0)
        assert record.feed.last_error is None
    if case.outcome != "gone":
        assert record.feed.next_check_at > fetch.started_at  # still scheduled, never dropped

    # Bounded.
    assert record.usage.peak_mb < case.max_mb, f"peak +{record.usage.peak_mb:.0f} MB"
    if case.check:
        case.check(record, http_server)

    # Nothing duplicated: the same document again adds no article and no outbox row.
    if case.articles:
        again = refresh_feed(rt.sessions, rt.fetcher, rt.settings, record.feed.id)
        assert again.new_article_ids == []
        assert record_of(rt, record.feed.id, again, record.usage).created_changes == (case.articles)


def test_xxe_file_is_never_read(
    hostile_resources: Resources, http_server: LocalHTTPServer, tmp_path: pytest.TempPathFactory
) -> None:
    secret = tmp_path / "secret.txt"  # type: ignore[operator]
    secret.write_text(payloads.SECRET)
    http_server.add("/xxe-file.xml", payloads.xxe(f"file://{secret}"), content_type=RSS)
    record = refresh_and_record(hostile_resources, http_server.url("/xxe-file.xml"))
    assert record.refresh.outcome == "bozo"  # the DTD was removed, the entry kept
    assert len(record.articles) == 1
    _no_leak(record, http_server)


def test_xxe_network_is_never_fetched(
    hostile_resources: Resources, http_server: LocalHTTPServer
) -> None:
    http_server.add("/xxe-target", payloads.SECRET, content_type="text/plain")
    doc = payloads.xxe(http_server.url("/xxe-target"))
    http_server.add("/xxe-net.xml", doc, content_type=RSS)
    record = refresh_and_record(hostile_resources, http_server.url("/xxe-net.xml"))
    assert record.refresh.outcome == "bozo"
    assert len(record.articles) == 1
    _no_leak(record, http_server)


def test_gzip_feed_that_is_not_a_bomb_is_fine(
    hostile_resources: Resources, http_server: LocalHTTPServer
) -> None:
    # The control for the bombs: compression itself is welcome.
    body = gzip.compress(payloads.plain_feed(http_server.url("")).encode())
    http_server.add("/gz-ok.xml", body, content_type=RSS, headers={"Content-Encoding": "gzip"})
    record = refresh_and_record(hostile_resources, http_server.url("/gz-ok.xml"))
    assert (record.refresh.outcome, len(record.articles)) == ("ok", 2)


# --- GUIDs and dates --------------------------------------------------------------------------


def test_missing_and_duplicate_guids_lose_and_duplicate_nothing(
    hostile_resources: Resources, http_server: LocalHTTPServer
) -> None:
    base = "https://guids.example"
    doc = payloads.rss(
        payloads.item("No guid A", link=f"{base}/a"),
        payloads.item("No guid B", link=f"{base}/b"),
        payloads.item("Same guid C", link=f"{base}/c", guid="dup"),
        payloads.item("Same guid D", link=f"{base}/d", guid="dup"),  # reused guid, new link
        payloads.item("Repeated E", link=f"{base}/e", guid="e"),
        payloads.item("Repeated E", link=f"{base}/e", guid="e"),  # the same item twice
        payloads.item("Neither guid nor link", description="Only text, twice over."),
        payloads.item("Linkless with guid", guid="note-1", description="A note."),
    )
    http_server.add("/guids.xml", doc, content_type=RSS)
    record = refresh_and_record(hostile_resources, http_server.url("/guids.xml"))
    assert record.refresh.outcome == "ok"
    assert record.fetch.entries_seen == 8
    urls = sorted(a.canonical_url for a in record.articles)
    assert urls[:5] == [f"{base}/{x}" for x in "abcde"]
    assert len(urls) == len(set(urls)) == 7  # five links, two link-less entries
    assert record.created_changes == 7
    again = refresh_feed(
        hostile_resources.sessions, hostile_resources.fetcher, hostile_resources.settings,
        record.feed.id,
    )  # fmt: skip
    assert again.new_article_ids == []  # link-less keys are stable across polls


def test_cross_feed_guids_do_not_collide(
    hostile_resources: Resources, http_server: LocalHTTPServer
) -> None:
    # Two feeds number their entries 1, 2, ...: the same guid means nothing across feeds.
    for name in ("one", "two"):
        doc = payloads.rss(
            payloads.item(f"{name} linked", link=f"https://{name}.example/1", guid="1"),
            payloads.item(f"{name} note", guid="2", description=f"Text of {name}."),
        )
        http_server.add(f"/{name}.xml", doc, content_type=RSS)
    first = refresh_and_record(hostile_resources, http_server.url("/one.xml"))
    second = refresh_and_record(hostile_resources, http_server.url("/two.xml"))
    assert len(first.articles) == len(second.articles) == 2
    assert not {a.id for a in first.articles} & {a.id for a in second.articles}
    assert second.created_changes == 4


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (None, None),
        ("Thu, 01 Jan 2099 00:00:00 GMT", None),  # in the future: not believed
        ("Wed, 31 Dec 1969 23:00:00 GMT", None),  # before 1970
        ("2026-03-02T08:30:00", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),  # naive: UTC
        ("02 Mar 2026 08:30:00", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),  # naive RFC 822
        # feedparser drops this spelling; worker/feeds falls back to dateutil.
        ("Mon, 02 Mar 2026 08:30:00", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),
        ("Mon, 02 Mar 2026 10:30:00 +0200", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),
        ("sometime next week, probably", None),  # unparseable
        ("Mon, 32 Mar 2026 99:99:99 GMT", None),
    ],
)
def test_entry_dates(
    hostile_resources: Resources,
    http_server: LocalHTTPServer,
    date: str | None,
    expected: datetime | None,
) -> None:
    doc = payloads.rss(payloads.item("Dated", link="https://dates.example/x", date=date))
    http_server.add("/dates.xml", doc, content_type=RSS)
    with measure():
        record = refresh_and_record(hostile_resources, http_server.url("/dates.xml"))
    assert record.refresh.outcome in ("ok", "bozo")
    (article,) = record.articles
    assert article.published_at == expected
    assert article.published_source == ("feed" if expected else None)


@pytest.mark.parametrize(
    ("date", "reason"),
    [
        # dateutil filled in what the text left out: today's month, a two-digit year 2000
        ("-1", "no year"),
        ("Sat, 01 Jan 0000", "year 0000 is out of range"),
        ("Sat, 01 Jan 0000 00:00:00 GMT", "year 0000 is out of range"),
        ("2026", "no day"),
        ("Thu, 01 Jan 2099 00:00:00 GMT", "in the future"),
        ("Thu, 01 Jan 1970 00:00:00 GMT", "not after 1970 (a zero timestamp or a placeholder)"),
        ("sometime next week, probably", "not a date"),
    ],
)
def test_junk_entry_dates_are_null_with_their_reason(
    hostile_resources: Resources, http_server: LocalHTTPServer, date: str, reason: str
) -> None:
    doc = payloads.rss(payloads.item("Junk date", link="https://dates.example/j", date=date))
    http_server.add("/junk-dates.xml", doc, content_type=RSS)
    record = refresh_and_record(hostile_resources, http_server.url("/junk-dates.xml"))
    assert record.refresh.outcome in ("ok", "bozo")
    (article,) = record.articles
    (source,) = record.sources
    assert (article.published_at, article.published_source) == (None, None)
    assert source.published_at is None
    expected = f"published {date!r}: {reason}"
    assert source.date_error == expected
    assert article.date_error == expected
