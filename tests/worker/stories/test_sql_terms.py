"""Document counts kept between story batches: used while valid, dropped once anyone else writes.

The counts a worker keeps (``worker.stories.sql_terms``) are a copy of ``term_stats``; these tests
change the table behind the worker's back — another writer, a batch that rolled back — and
check that the next batch takes the table's counts, not the copy's.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from models import session_scope as scope
from models.story_state import TermStat
from tests.worker.stories.test_step import add_article
from tests.worker.stories.texts import BRIDGE_LOCAL, BRIDGE_WIRE, STRIKE, VISIT_A
from worker.stories.sql_terms import KEPT_COUNTS, KeptCounts
from worker.stories.step import assign_stories

# The stem of ``bridge``: in both bridge texts, not in STRIKE or VISIT_A; each batch below
# reads and writes its count.
TERM = "bridg"


def test_counts_are_kept_with_their_token_only() -> None:
    kept = KeptCounts(limit=10)
    kept.keep({"a": 3, "b": 0}, "t1")
    kept.check("t1")
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (3, 0, None)
    kept.check("t2")  # someone else wrote: nothing kept is trusted
    assert (kept.get("a"), len(kept)) == (None, 0)
    kept.keep({"a": 4}, None)  # the token could not be read: keep nothing
    assert (kept.get("a"), kept.token) == (None, None)


def test_kept_counts_are_bounded_and_keep_what_batches_use() -> None:
    kept = KeptCounts(limit=8)
    kept.keep({f"old{i}": i for i in range(5)}, "t")  # the young generation is full: it ages
    kept.keep({"old1": 10, "new": 1}, "t")  # a later batch used old1 again
    assert (kept.get("old1"), kept.get("old2"), kept.get("new")) == (10, 2, 1)
    kept.keep({f"more{i}": i for i in range(5)}, "t")  # ages again: the oldest goes
    assert kept.get("old2") is None
    assert (kept.get("old1"), kept.get("new"), kept.get("more4")) == (10, 1, 4)
    assert len(kept) <= 8 + 5


# The tests below use the story tests' database fixtures (conftest.py), on Postgres only: on
# SQLite nothing is kept.
_ON_POSTGRES = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


@pytest.fixture
def count_reads(engine: Engine) -> list[str]:
    """The term lists of every read of term_stats' counts (array literals, as sent)."""
    reads: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_c: Any, _cur: Any, statement: str, params: Any, *_args: Any) -> None:
        if "JOIN term_stats" in statement:
            reads.append(params["terms"])

    return reads


def _df(sessions: sessionmaker[Session], term: str) -> int | None:
    with scope(sessions) as s:
        return s.scalar(select(TermStat.df).where(TermStat.term == term))


def _assign(sessions: sessionmaker[Session], *texts: str) -> None:
    ids = [add_article(sessions, None, t, hours=i) for i, t in enumerate(texts)]
    with scope(sessions) as s:
        assign_stories(s, ids)


@_ON_POSTGRES
def test_the_next_batch_reads_only_counts_not_kept(
    sessions: sessionmaker[Session], count_reads: list[str]
) -> None:
    _assign(sessions, BRIDGE_WIRE, STRIKE)
    assert f'"{TERM}"' in count_reads[0]
    assert KEPT_COUNTS.get(TERM) == _df(sessions, TERM) == 1
    count_reads.clear()
    _assign(sessions, BRIDGE_LOCAL, VISIT_A)
    assert count_reads  # its new terms were read ...
    assert not any(f'"{TERM}"' in read for read in count_reads)  # ... the kept one was not
    assert KEPT_COUNTS.get(TERM) == _df(sessions, TERM) == 2


@_ON_POSTGRES
def test_a_write_by_anyone_else_drops_the_kept_counts(
    sessions: sessionmaker[Session], count_reads: list[str]
) -> None:
    _assign(sessions, BRIDGE_WIRE, STRIKE)
    with scope(sessions) as s:  # not the story step: a hand-made fix, another writer
        s.execute(update(TermStat).where(TermStat.term == TERM).values(df=TermStat.df + 100))
    count_reads.clear()
    _assign(sessions, BRIDGE_LOCAL, VISIT_A)
    assert any(f'"{TERM}"' in read for read in count_reads)  # read from the table again
    assert KEPT_COUNTS.get(TERM) == _df(sessions, TERM) == 102


@_ON_POSTGRES
def test_a_batch_that_rolled_back_leaves_no_counts_behind(
    sessions: sessionmaker[Session], count_reads: list[str]
) -> None:
    _assign(sessions, BRIDGE_WIRE, STRIKE)
    ids = [add_article(sessions, None, t, hours=5) for t in (BRIDGE_LOCAL, VISIT_A)]
    with sessions() as s:
        assign_stories(s, ids)
        assert KEPT_COUNTS.get(TERM) == 2  # kept with the token of a write ...
        s.rollback()  # ... that never lands
    assert _df(sessions, TERM) == 1
    count_reads.clear()
    _assign(sessions, BRIDGE_LOCAL)
    assert any(f'"{TERM}"' in read for read in count_reads)
    assert KEPT_COUNTS.get(TERM) == _df(sessions, TERM) == 2


@_ON_POSTGRES
def test_every_write_of_term_stats_changes_the_token(sessions: sessionmaker[Session]) -> None:
    token = text("SELECT token FROM term_stats_version")
    seen = []
    for statement in (
        "INSERT INTO term_stats (term, df) VALUES ('x', 1)",
        "UPDATE term_stats SET df = 2 WHERE term = 'x'",
        "UPDATE term_stats SET df = 2 WHERE term = 'nothing'",  # even one that changes no row
        "DELETE FROM term_stats WHERE term = 'x'",
        "TRUNCATE term_stats",
    ):
        with scope(sessions) as s:
            before = s.scalar(token)
            s.execute(text(statement))
            seen.append(s.scalar(token))
        assert seen[-1] != before, statement
    assert len(set(seen)) == len(seen)
