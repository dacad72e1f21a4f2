"""A change-feed follower rides out PostgreSQL restarts (issue 15, item 2): the real
``storywire changes --follow`` and ``iter_changes(follow=True)`` keep running through a clean
restart and a crash of the server, reconnect with back-off, and print every change once, in
order, none skipped.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from models import Change, make_engine, session_factory, session_scope
from tests.support.processes import STORYWIRE, end, storywire_env, wait_for
from tests.support.services import PostgresServer
from worker.changefeed import iter_changes
from worker.store import record_change

pytestmark = pytest.mark.slow

#: Changes written between two outages.
BATCH = 25


def write_changes(engine: Engine, count: int) -> None:
    sessions = session_factory(engine)
    for n in range(count):
        with session_scope(sessions) as session:  # one commit (and NOTIFY) each
            record_change(session, "test.fact", n, n=n)


def all_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(Change.id).order_by(Change.id)).scalars())


def outages(server: PostgresServer, writer: Engine) -> Iterator[str]:
    """A clean restart (fast shutdown cuts every connection), then a crash (SIGKILL); the
    test's own writer forgets its dead connections each time."""
    server.restart()
    writer.dispose()
    yield "restart"
    server.kill()
    server.start()
    writer.dispose()
    yield "crash"


def test_changes_follow_survives_postgres_restarts(
    tmp_path: Path, postgres_server: PostgresServer, pg_url: str, pg_engine: Engine
) -> None:
    write_changes(pg_engine, BATCH)
    out_path, err_path = tmp_path / "changes.jsonl", tmp_path / "changes.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        follower = subprocess.Popen(
            [*STORYWIRE, "changes", "--follow"],
            env=storywire_env(DATABASE_URL=pg_url, STORYWIRE_DATA_DIR=str(tmp_path / "data")),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    try:

        def printed() -> list[int]:
            lines = out_path.read_text().splitlines()
            return [json.loads(line)["id"] for line in lines]

        def caught_up() -> bool:
            assert follower.poll() is None, err_path.read_text()
            return len(printed()) >= len(all_ids(pg_engine))

        wait_for(caught_up, timeout=180, what="the follower to print the first changes")
        for outage in outages(postgres_server, pg_engine):
            write_changes(pg_engine, BATCH)  # written once the server is back
            wait_for(caught_up, timeout=240, what=f"the follower to catch up after a {outage}")
        assert printed() == all_ids(pg_engine)  # each once, in order, none skipped
        assert len(printed()) == 3 * BATCH
        assert "database unreachable" in err_path.read_text()  # it did lose the connection
        assert "Traceback" not in err_path.read_text()
    finally:
        end(follower)


def test_iter_changes_follow_survives_postgres_restarts(
    postgres_server: PostgresServer, pg_engine: Engine
) -> None:
    write_changes(pg_engine, BATCH)
    seen: list[int] = []
    failure: list[BaseException] = []
    stop = threading.Event()
    reader = make_engine(pg_engine.url.render_as_string(hide_password=False))

    def follow() -> None:
        try:
            for change in iter_changes(reader, 0, follow=True, poll_interval_s=0.2):
                if stop.is_set():
                    return
                seen.append(change.id)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()

    def caught_up() -> bool:
        assert not failure, failure
        return len(seen) >= len(all_ids(pg_engine))

    try:
        wait_for(caught_up, timeout=180, what="the first changes")
        for outage in outages(postgres_server, pg_engine):
            write_changes(pg_engine, BATCH)
            wait_for(caught_up, timeout=240, what=f"the changes after a {outage}")
        assert seen == all_ids(pg_engine)
        assert len(seen) == 3 * BATCH
    finally:
        stop.set()
        write_changes(pg_engine, 1)  # wakes the follower, which then stops
        thread.join(60)
        reader.dispose()
