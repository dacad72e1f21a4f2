"""process_article and the exact-duplicate story step, on real HTTP and SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Article, ArticleStatus, Change, session_scope, utcnow
from models.story_state import ArticleFeatures
from tests.e2e.site import BOILERPLATE, STORIES, page_html, rss, serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import migrate
from tests.support.sql import sql_statements
from tests.worker.pipeline.conftest import ingest_feed, make_settings
from worker.dedupe import content_hash
from worker.fetch import Fetcher
from worker.pipeline import RetryLater, assign_story_step, process_article
from worker.pipeline.inline import run_inline
from worker.resources import Resources, build_resources
from worker.store import add_feed


def test_page_is_extracted_and_merged_with_feed_fields(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    ids = ingest_feed(resources, serve_site(http_server)["world"])
    for article_id in ids:
        assert (
            process_article(
                resources.sessions, resources.fetcher, resources.settings, article_id
            ).status
            == "ok"
        )
    with session_scope(resources.sessions) as s:
        stored = {a.title: a for a in s.scalars(select(Article))}
        changes = s.scalars(select(Change.kind).where(Change.kind == "article.updated")).all()
    assert len(changes) == 3
    for story in STORIES[:3]:
        article = stored[story.title]
        assert article.status == ArticleStatus.OK
        assert article.authors == [story.author]
        assert article.published_at == story.published
        assert article.published_source == "jsonld"
        assert article.site_name == "The Daily Example"
        assert article.content_hash
        assert all(p in article.text for p in story.paragraphs)
        assert not any(junk in article.text for junk in BOILERPLATE)


def test_processing_twice_changes_nothing(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    ids = ingest_feed(resources, serve_site(http_server)["world"])
    process_article(resources.sessions, resources.fetcher, resources.settings, ids[0])
    again = process_article(resources.sessions, resources.fetcher, resources.settings, ids[0])
    assert again.status == "skipped"


def test_missing_page_fails_but_keeps_the_feed_summary(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    story = STORIES[0]
    http_server.add(
        "/f.xml",
        rss("F", [(story, http_server.url("/nowhere.html"))]),
        content_type="application/rss+xml",
    )
    [article_id] = ingest_feed(resources, http_server.url("/f.xml"))
    outcome = process_article(resources.sessions, resources.fetcher, resources.settings, article_id)
    assert outcome.status == "failed"
    with session_scope(resources.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        assert article.http_status == 404
        assert article.error_class
        assert article.text == story.paragraphs[0]  # the feed's description
        assert article.title == story.title


def test_a_page_without_main_text_still_dates_its_article(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    from datetime import timedelta

    story = STORIES[0]
    # A video page: no text to extract, but its markup dates it (earlier than the feed says,
    # within the day the feed's date allows).
    page_date = story.published - timedelta(hours=6)
    jsonld = f'{{"@type": "VideoObject", "datePublished": "{page_date.isoformat()}"}}'
    http_server.add(
        "/video.html",
        f'<html><head><script type="application/ld+json">{jsonld}</script></head>'
        "<body><div></div></body></html>",
    )
    http_server.add(
        "/f.xml",
        rss("F", [(story, http_server.url("/video.html"))]),
        content_type="application/rss+xml",
    )
    [article_id] = ingest_feed(resources, http_server.url("/f.xml"))
    outcome = process_article(resources.sessions, resources.fetcher, resources.settings, article_id)
    assert (outcome.status, outcome.error_class) == ("failed", "no_text")
    with session_scope(resources.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        assert (article.published_at, article.published_source) == (page_date, "jsonld")
        assert article.text == story.paragraphs[0]  # the feed's description stays


def test_same_text_at_two_urls_is_marked_duplicate(
    resources: Resources, http_server: LocalHTTPServer
) -> None:
    story = STORIES[1]
    for path in ("/one/x.html", "/two/y.html"):
        http_server.add(path, page_html(story, http_server.url(path)))
    items = [(story, http_server.url("/one/x.html")), (story, http_server.url("/two/y.html"))]
    http_server.add("/f.xml", rss("F", items), content_type="application/rss+xml")
    with session_scope(resources.sessions) as s:
        feed, _ = add_feed(s, http_server.url("/f.xml"))
    summary = run_inline(resources, [feed.id])
    assert (summary.new_articles, summary.articles_ok, summary.duplicates) == (2, 2, 1)
    with session_scope(resources.sessions) as s:
        first, second = s.scalars(select(Article).order_by(Article.id)).all()
        dup = second if second.duplicate_of else first
        original = first if dup is second else second
        assert dup.duplicate_of == original.id
        assert original.duplicate_of is None
    # The story step is idempotent: running it again changes nothing.
    assert assign_story_step(resources.sessions, dup.id).duplicate_of == original.id
    assert assign_story_step(resources.sessions, original.id).duplicate_of is None


def test_our_own_rate_limit_defers_without_spending_attempts(
    tmp_path: Path, resources: Resources, http_server: LocalHTTPServer
) -> None:
    ids = ingest_feed(resources, serve_site(http_server)["world"])
    # One request per 100 s to the host, which the feed fetch just used: the page must wait.
    slow = make_settings(
        tmp_path, resources.settings.sqlalchemy_url, host_rate_per_s=0.01, obey_robots=False
    )
    with Fetcher(slow) as fetcher, pytest.raises(RetryLater) as raised:
        process_article(resources.sessions, fetcher, slow, ids[0])
    assert raised.value.attempts == 0
    assert raised.value.retry_after
    assert raised.value.retry_after > 30
    with session_scope(resources.sessions) as s:
        article = s.get(Article, ids[0])
        assert article is not None
        assert (article.status, article.attempts) == ("pending", 0)


def test_a_page_failing_transiently_is_retried_later_then_failed_at_the_attempts_setting(
    tmp_path: Path, resources: Resources, http_server: LocalHTTPServer
) -> None:
    story = STORIES[0]
    http_server.add("/busy.html", b"try later", status=503, content_type="text/html")
    items = [(story, http_server.url("/busy.html"))]
    http_server.add("/f.xml", rss("F", items), content_type="application/rss+xml")
    [article_id] = ingest_feed(resources, http_server.url("/f.xml"))
    settings = make_settings(tmp_path, resources.settings.sqlalchemy_url, max_page_attempts=3)
    waits = []
    for attempt in (1, 2):
        with pytest.raises(RetryLater) as raised:
            process_article(resources.sessions, resources.fetcher, settings, article_id)
        assert (raised.value.attempts, raised.value.error_class) == (attempt, "http_503")
        waits.append(raised.value.countdown)
    assert waits == [30.0, 60.0]  # longer after each attempt
    outcome = process_article(resources.sessions, resources.fetcher, settings, article_id)
    assert (outcome.status, outcome.error_class) == ("failed", "http_503")
    with session_scope(resources.sessions) as s:
        article = s.get(Article, article_id)
        assert article is not None
        assert (article.status, article.attempts, article.text) == (
            "failed",
            3,
            story.paragraphs[0],  # the feed's text kept
        )


def test_two_deliveries_at_once_write_one_result(
    tmp_path: Path, pg_url: str, http_server: LocalHTTPServer
) -> None:
    migrate(pg_url)
    # Four live tries of one page are four unfinished ones until the first ends: with the
    # default limit of 3 the fourth would give the page up. The sweeper and the broker never
    # deliver a try that can still be running (their delays exceed the hard time limit);
    # this test makes them race on purpose, so the limit is set out of its way.
    rt = build_resources(make_settings(tmp_path, pg_url, max_unfinished_tries=10))
    try:
        [article_id, *_] = ingest_feed(rt, serve_site(http_server)["world"])
        outcomes: list[str] = []

        def deliver() -> None:
            with Fetcher(rt.settings) as fetcher:
                outcomes.append(
                    process_article(rt.sessions, fetcher, rt.settings, article_id).status
                )

        threads = [threading.Thread(target=deliver) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("ok") >= 1
        assert set(outcomes) <= {"ok", "skipped"}
        with session_scope(rt.sessions) as s:
            updates = s.scalars(
                select(Change).where(
                    Change.kind == "article.updated", Change.entity_id == article_id
                )
            ).all()
        assert len(updates) == 1
    finally:
        rt.close()


def test_an_older_copy_arriving_late_becomes_the_original(resources: Resources) -> None:
    from datetime import UTC, datetime

    text = "The same wire text, word for word, about the harbour ferry timetable vote."
    stamps = {
        "b": datetime(2026, 1, 2, tzinfo=UTC),
        "c": datetime(2026, 1, 3, tzinfo=UTC),
        "a": datetime(2026, 1, 1, tzinfo=UTC),
    }
    ids = {}
    for key in ("b", "c", "a"):  # "a" is the oldest but reaches the story step last
        with session_scope(resources.sessions) as s:
            article = Article(
                canonical_url=f"https://{key}.example/x",
                url=f"https://{key}.example/x",
                text=text,
                content_hash=content_hash(text),
                authors=[],
                published_at=stamps[key],
                status="ok",
                attempts=0,
            )
            s.add(article)
            s.flush()
            ids[key] = article.id
        assign_story_step(resources.sessions, ids[key])
    with session_scope(resources.sessions) as s:
        dup = {k: s.get(Article, i).duplicate_of for k, i in ids.items()}  # type: ignore[union-attr]
    assert dup == {"a": None, "b": ids["a"], "c": ids["a"]}


def test_our_own_outage_costs_an_article_no_attempt(resources: Resources) -> None:
    from worker.fetch import TransientFetchError
    from worker.pipeline.outage import note_fetch

    # Two other hosts just failed at network level, nobody answered since: a third
    # failure (this page's host) makes it an outage of ours.
    with session_scope(resources.sessions) as s:
        for host in ("a.example", "b.example"):
            err = TransientFetchError("down", url=f"http://{host}/", error_class="connect")
            note_fetch(s, host, err, settings=resources.settings, now=utcnow())
        s.add(
            Article(
                canonical_url="http://127.0.0.1:9/x",
                url="http://127.0.0.1:9/x",
                authors=[],
                status="pending",
                attempts=0,
            )
        )
    with session_scope(resources.sessions) as s:
        article_id = s.scalars(select(Article.id)).one()
    with pytest.raises(RetryLater) as raised:  # port 9 (discard) refuses the connection
        process_article(resources.sessions, resources.fetcher, resources.settings, article_id)
    assert raised.value.attempts == 0
    with session_scope(resources.sessions) as s:
        assert s.get(Article, article_id).attempts == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("db", ["sqlite_url", "pg_url"])
def test_a_page_date_before_the_feeds_first_entry_gives_way_to_the_feed(
    db: str, request: pytest.FixtureRequest, tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    import dataclasses
    from datetime import UTC, datetime

    url = request.getfixturevalue(db)
    migrate(url)
    rt = build_resources(make_settings(tmp_path, url))
    try:
        older, newer = STORIES[0], STORIES[1]
        older = dataclasses.replace(older, published=datetime(2026, 1, 1, 9, tzinfo=UTC))
        newer = dataclasses.replace(newer, published=datetime(2026, 3, 2, 9, tzinfo=UTC))
        # The newer entry's page claims 2015: an archive's or a template's date.
        stale = dataclasses.replace(newer, published=datetime(2015, 6, 1, 9, tzinfo=UTC))
        http_server.add("/old.html", page_html(older, http_server.url("/old.html")))
        http_server.add("/new.html", page_html(stale, http_server.url("/new.html")))
        items = [(newer, http_server.url("/new.html")), (older, http_server.url("/old.html"))]
        http_server.add("/f.xml", rss("F", items), content_type="application/rss+xml")
        ids = ingest_feed(rt, http_server.url("/f.xml"))
        for article_id in ids:
            process_article(rt.sessions, rt.fetcher, rt.settings, article_id)
        with session_scope(rt.sessions) as s:
            stored = {a.title: a for a in s.scalars(select(Article))}
        old_article, new_article = stored[older.title], stored[newer.title]
        assert (old_article.published_at, old_article.published_source) == (
            older.published,
            "jsonld",
        )
        assert (new_article.published_at, new_article.published_source) == (
            newer.published,
            "feed",
        )
        assert new_article.date_error == (
            "jsonld 2015-06-01T09:00:00+00:00: before the feed's first entry (2026-01-01)"
        )
    finally:
        rt.close()


def test_a_page_is_scanned_for_its_date_only_when_its_feed_gave_none(
    resources: Resources, http_server: LocalHTTPServer, scanned: list[str]
) -> None:
    body = "".join(
        f"<p>Paragraph {i}: the river ferry resumes its evening crossings after the quay "
        "works, the operator said on Tuesday, with two boats and a new timetable.</p>"
        for i in range(6)
    )
    for slug in ("dated", "undated"):  # dated only in their text, ten days after the feed
        http_server.add(
            f"/{slug}.html",
            f"<html><head><title>Ferry {slug}</title></head><body><article><h1>Ferry "
            f"{slug}</h1>{body}</article><footer>Archived 2026-03-12</footer></body></html>",
        )
    items = "".join(
        f"<item><title>Ferry {slug}</title><link>{http_server.url(f'/{slug}.html')}</link>"
        f"{pub}</item>"
        for slug, pub in (("dated", "<pubDate>Mon, 02 Mar 2026 09:00:00 GMT</pubDate>"),
                          ("undated", ""))
    )  # fmt: skip
    http_server.add(
        "/ferry.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    for article_id in ingest_feed(resources, http_server.url("/ferry.xml")):
        process_article(resources.sessions, resources.fetcher, resources.settings, article_id)
    with session_scope(resources.sessions) as s:
        stored = {a.title: a for a in s.scalars(select(Article))}
    dated, undated = stored["Ferry dated"], stored["Ferry undated"]
    # The feed's date outranks a guess from the text: that page is not scanned, and its
    # text's later date is not taken for a modification either.
    assert (dated.published_source, dated.modified_at) == ("feed", None)
    assert dated.published_at is not None and dated.published_at.day == 2
    assert (undated.published_source, str(undated.published_at.date())) == ("text", "2026-03-12")
    assert scanned == [http_server.url("/undated.html")]


def test_a_story_step_waits_for_other_pages_only_while_some_are_pending(
    rt: Resources, http_server: LocalHTTPServer
) -> None:
    from worker.pipeline.story import DEFAULT_STORY_DELAY_S, story_delay

    ids = ingest_feed(rt, serve_site(http_server)["world"])
    # On Postgres the article's write says whether other pages are pending (one statement
    # less an article); SQLite's leaves it to story_delay's own read.
    said = []
    for article_id in ids:
        outcome = process_article(rt.sessions, rt.fetcher, rt.settings, article_id)
        said.append(outcome.pages_pending)
        # While another page is still to come, its article may join this one's batch; after
        # the burst's last page there is nothing to wait for.
        expected = DEFAULT_STORY_DELAY_S if article_id != ids[-1] else 0.0
        assert story_delay(rt.sessions) == expected
        assert story_delay(rt.sessions, outcome.pages_pending) == expected
    postgres = rt.engine.dialect.name == "postgresql"
    assert said == ([True, True, False] if postgres else [None] * 3)


def test_a_page_is_stored_in_five_statements_two_on_postgres(
    rt: Resources, http_server: LocalHTTPServer
) -> None:
    ids = ingest_feed(rt, serve_site(http_server)["world"])
    with sql_statements(rt.engine) as statements:
        outcome = process_article(rt.sessions, rt.fetcher, rt.settings, ids[0])
    assert outcome.status == "ok"
    # The stub with its feed entry, and its try counted (committed before the page is
    # fetched: a try that kills its worker is counted too); the row's final state; its story
    # features (worker.stories.features_store); its change. On Postgres the first two are one
    # statement and the last three another; the features and the change are the row's.
    expected = (
        ["WITH", "WITH"]
        if rt.engine.dialect.name == "postgresql"
        else ["SELECT", "UPDATE", "UPDATE", "INSERT", "INSERT"]
    )
    assert [s.split()[0].upper() for s in statements] == expected
    with session_scope(rt.sessions) as s:
        changes = s.scalars(select(Change.entity_id).where(Change.kind == "article.updated")).all()
        features = s.scalars(select(ArticleFeatures.article_id)).all()
    assert changes == features == [ids[0]]
