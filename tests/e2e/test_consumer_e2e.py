"""A separate consumer process follows the change feed on Postgres while a real worker
ingests, and ends with exactly the articles and stories that are in the database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Article, Story, make_engine
from tests.e2e.site import serve_site
from tests.e2e.test_pipeline_e2e import server_env
from tests.support.httpserver import LocalHTTPServer
from tests.support.processes import Process, end, run_cli, wait_for
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow
CONSUMER = Path(__file__).with_name("consumer.py")


def test_consumer_process_ends_with_the_database_contents(
    tmp_path: Path, http_server: LocalHTTPServer, redis_server: RedisServer, pg_url: str
) -> None:
    env = server_env(tmp_path, redis_server, pg_url)
    out, stop = tmp_path / "changes.jsonl", tmp_path / "stop"
    # Started before anything is ingested: it sees the feed fill up live.
    consumer = subprocess.Popen([sys.executable, str(CONSUMER), pg_url, str(out), str(stop)])
    try:
        run_cli(["feeds", "add", *serve_site(http_server).values()], env)
        worker = Process(["worker", "--concurrency", "2"], env, tmp_path / "worker.log")
        beat = Process(["beat"], env, tmp_path / "beat.log")
        engine = make_engine(pg_url)
        try:
            # Stories come from a step a second after the pages: wait for that step.
            done = select(func.count()).select_from(Article).where(Article.story_id.is_not(None))

            def processed() -> bool:
                with engine.connect() as conn:
                    return int(conn.execute(done).scalar_one()) >= 4

            wait_for(processed, timeout=240, what="4 articles in stories", processes=(worker, beat))
        finally:
            beat.stop(timeout=120)
            worker.stop(timeout=120)
        stop.touch()
        assert consumer.wait(timeout=120) == 0
    finally:
        end(consumer)  # a test that failed above leaves no consumer running

    changes = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [c["id"] for c in changes]
    assert ids == sorted(set(ids)), "every change once, in order"
    with engine.connect() as conn:
        articles = set(conn.execute(select(Article.id)).scalars())
        stories = set(conn.execute(select(Story.id).where(Story.merged_into.is_(None))).scalars())
        all_ids = list(conn.execute(select(func.count()).select_from(Article)).scalars())
        story_of = dict(conn.execute(select(Article.id, Article.story_id)).all())
    engine.dispose()
    seen_articles = {c["entity_id"] for c in changes if c["kind"] == "article.created"}
    created = {c["entity_id"] for c in changes if c["kind"] == "story.created"}
    merged = {c["entity_id"] for c in changes if c["kind"] == "story.merged"}
    assert seen_articles == articles
    assert all_ids == [4]
    assert created - merged == stories
    assert stories  # the site's four articles are about different events: stories exist
    assert set(story_of.values()) <= stories
    updated = [c for c in changes if c["kind"] == "article.updated"]
    extracted = sorted(c["entity_id"] for c in updated if "status" in c["payload"])
    storied = {
        c["entity_id"]: c["payload"]["story_id"] for c in updated if "story_id" in c["payload"]
    }
    assert extracted == sorted(articles)  # one extraction result per article
    assert storied == story_of  # and its story, as stored

    # The CLI's view of the same feed, on Postgres: same changes, and the export.
    printed = [json.loads(line) for line in run_cli(["changes"], env).splitlines()]
    assert [c["id"] for c in printed] == ids
    exported = [json.loads(line) for line in run_cli(["export"], env).splitlines()]
    assert {row["id"] for row in exported} == articles
