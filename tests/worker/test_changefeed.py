"""The change feed on real Postgres: commit-ordered ids, concurrent writers, NOTIFY."""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import Engine, event, text

from models import make_engine, session_factory, session_scope
from tests.support.services import migrate
from worker.changefeed import iter_changes, prune_changes, read_page
from worker.store import record_change


def _slow_then_fast(engine: Engine) -> tuple[int, list[int], list[int]]:
    """T1 writes first but commits last; T2 writes later and commits first.

    Returns (id T2 got, ids seen by a reader after T2's commit, ids seen after T1's)."""
    sessions = session_factory(engine)
    slow = sessions()
    record_change(slow, "test.slow", 1)
    slow.flush()  # T1's row exists (uncommitted) before T2's
    with session_scope(sessions) as fast:
        record_change(fast, "test.fast", 2)
    first = [c.id for c in read_page(engine, 0)]
    slow.commit()
    slow.close()
    after = [c.id for c in read_page(engine, max(first, default=0))]
    return first[0] if first else -1, first, after


def test_a_late_commit_is_never_behind_the_cursor(pg_engine: Engine) -> None:
    _, first, after = _slow_then_fast(pg_engine)
    assert len(first) == 1  # only the committed row is visible
    assert len(after) == 1, "the slow transaction's row must come after the cursor"
    assert after[0] > first[0]


def test_without_commit_ordering_the_late_row_would_be_missed(pg_engine: Engine) -> None:
    # The same scenario with the commit-order trigger off: a plain sequence hands T1 the
    # smaller id, and a reader whose cursor passed T2's row never sees T1's. This is the
    # failure the trigger exists to prevent (and proves the test above can fail).
    with pg_engine.begin() as conn:
        conn.execute(text("ALTER TABLE changes DISABLE TRIGGER changes_commit_order"))
        conn.execute(
            text("ALTER TABLE changes ALTER COLUMN id SET DEFAULT nextval('changes_id_seq')")
        )
    _, first, after = _slow_then_fast(pg_engine)
    assert len(first) == 1
    assert after == []


def test_concurrent_writers_and_a_reader_see_every_row_once(pg_engine: Engine) -> None:
    sessions = session_factory(pg_engine)
    writers, per_writer = 6, 25
    stop = threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        rng = random.Random(n)
        for i in range(per_writer):
            with session_scope(sessions) as s:
                record_change(s, "test.write", n * 1000 + i)
                s.flush()
                time.sleep(rng.uniform(0, 0.01))  # commit late, out of allocation order
                record_change(s, "test.write", n * 1000 + i)

    def read() -> None:
        cursor = 0
        while not stop.is_set():
            for change in iter_changes(pg_engine, since=cursor, page_size=7):
                seen.append(change.id)
                cursor = change.id
            time.sleep(0.002)
        seen.extend(c.id for c in iter_changes(pg_engine, since=cursor))

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    with pg_engine.connect() as conn:
        stored = conn.execute(text("SELECT id FROM changes ORDER BY id")).scalars().all()
    assert len(stored) == writers * per_writer * 2
    assert seen == list(stored)  # every row, once, in order
    assert min(stored) > 0


def test_follow_wakes_up_on_notify(pg_engine: Engine) -> None:
    # The poll interval is an hour: within the test's deadline only NOTIFY can wake the
    # follower, so how fast the machine is does not matter. The change is committed once the
    # follower has read the (empty) feed after starting to LISTEN: the read could not see it.
    consumer_reads = threading.Event()
    got: list[str] = []
    stream = iter_changes(pg_engine, follow=True, poll_interval_s=3600)

    @event.listens_for(pg_engine, "after_cursor_execute")
    def _read(conn: object, cursor: object, statement: str, *args: object) -> None:
        if threading.current_thread() is consumer and "FROM changes" in statement:
            consumer_reads.set()

    def consume() -> None:
        got.append(next(stream).kind)

    consumer = threading.Thread(target=consume, daemon=True)  # a hung follower fails, no more
    consumer.start()
    assert consumer_reads.wait(120), "the follower never read the change feed"
    with session_scope(session_factory(pg_engine)) as s:
        record_change(s, "test.notify", 1)
    consumer.join(120)
    assert got == ["test.notify"], "the follower slept through the NOTIFY"
    stream.close()


def test_kinds_filter_and_pruning(sqlite_url: str) -> None:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    with session_scope(session_factory(engine)) as s:
        for kind in ("a.x", "b.y", "a.x"):
            record_change(s, kind, 1)
    assert [c.kind for c in iter_changes(engine, kinds=["a.x"])] == ["a.x", "a.x"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE changes SET created_at = '2000-01-01 00:00:00' WHERE id = 1"))
    from datetime import timedelta

    assert prune_changes(engine, timedelta(days=30)) == 1
    assert [c.id for c in iter_changes(engine)] == [2, 3]
    engine.dispose()
