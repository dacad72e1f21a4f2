"""Consumer commands never write (issue 15, item 8): ``storywire changes`` (also with
``--follow``) and ``storywire export`` work under a PostgreSQL role that may only read what a
consumer reads (``changes`` and ``v_articles``, in read-only transactions), as a downstream
service's credentials should be, and on a database one migration behind the code (the
worker migrates it, not its readers).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from models import Article, ArticleStatus, Change, make_engine, session_factory, session_scope
from tests.support.processes import STORYWIRE, end, run_storywire, storywire_env, wait_for
from tests.support.services import alembic_config, migrate
from worker.store import add_feed, record_change

#: What a consumer's role may read: the outbox and the articles view.
CONSUMER_TABLES = "changes, v_articles"


@pytest.fixture
def reader_url(pg_url: str) -> Iterator[str]:
    """The migrated database's URL for a role that may SELECT the consumer tables only, in
    read-only transactions."""
    migrate(pg_url)
    role = f"reader_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    database = make_url(pg_url).database
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT CONNECT ON DATABASE {database} TO {role}"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT ON {CONSUMER_TABLES} TO {role}"))
        conn.execute(text(f"ALTER ROLE {role} SET default_transaction_read_only = on"))
    yield make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


def _content(pg_url: str) -> int:
    """A feed and a stored article; returns the last change id."""
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        feed, _ = add_feed(session, "https://news.example/feed.xml")
        article = Article(
            canonical_url="https://news.example/a",
            url="https://news.example/a",
            feed_id=feed.id,
            title="A",
            text="Text.",
            authors=[],
            status=ArticleStatus.OK,
            attempts=0,
        )
        session.add(article)
        session.flush()
        record_change(session, "article.created", article.id, url=article.canonical_url)
    with engine.connect() as conn:
        last = conn.execute(select(Change.id).order_by(Change.id.desc())).scalars().first()
    engine.dispose()
    assert last is not None
    return int(last)


def test_changes_and_export_under_a_read_only_role(
    tmp_path: Path, pg_url: str, reader_url: str
) -> None:
    last = _content(pg_url)
    # Auto-migrate is on (the default): a consumer command must still not try to write.
    env = storywire_env(DATABASE_URL=reader_url, STORYWIRE_DATA_DIR=str(tmp_path / "data"))

    changes = run_storywire(["changes"], env)
    assert changes.returncode == 0, changes.stderr
    kinds = [json.loads(line)["kind"] for line in changes.stdout.splitlines()]
    assert kinds == ["feed.created", "article.created"]

    export = run_storywire(["export"], env)
    assert export.returncode == 0, export.stderr
    rows = [json.loads(line) for line in export.stdout.splitlines()]
    assert [(r["canonical_url"], r["last_change_id"]) for r in rows] == [
        ("https://news.example/a", last)
    ]

    out = tmp_path / "follow.jsonl"
    with out.open("wb") as sink:
        follower = subprocess.Popen(
            [*STORYWIRE, "changes", "--follow"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.PIPE,
        )
    try:
        wait_for(
            lambda: follower.poll() is not None or len(out.read_text().splitlines()) == 2,
            timeout=180,
            what="the read-only follower to print the changes",
        )
        assert follower.poll() is None, follower.stderr.read() if follower.stderr else ""
    finally:
        end(follower)


def test_changes_on_a_database_behind_the_code(
    tmp_path: Path, pg_url: str, reader_url: str
) -> None:
    _content(pg_url)
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # as if the code were upgraded before the worker migrated
        before = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    command.downgrade(alembic_config(pg_url), "-1")
    env = storywire_env(DATABASE_URL=reader_url, STORYWIRE_DATA_DIR=str(tmp_path / "data"))
    changes = run_storywire(["changes"], env)
    assert changes.returncode == 0, changes.stderr
    assert len(changes.stdout.splitlines()) == 2
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # still behind: readers never migrate
        after = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert after != before
