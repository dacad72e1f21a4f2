"""worker.pipeline.outage on real SQLite and PostgreSQL: the evidence rule and the outage window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import HostHealth, make_engine, session_factory, session_scope, utcnow
from tests.support.services import migrate
from worker.config import Settings
from worker.feeds import FeedParseError
from worker.fetch import BlockedDestination, PermanentFetchError, TransientFetchError
from worker.pipeline.outage import Evidence, evidence_of, local_outage, note_fetch

SETTINGS = Settings(outage_window_s=300, outage_min_hosts=3)


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    migrate(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def _connect_error(host: str) -> TransientFetchError:
    return TransientFetchError("refused", url=f"http://{host}/", error_class="connect")


@pytest.mark.parametrize(
    ("error", "got_response", "evidence"),
    [
        (None, True, Evidence.REACHED),
        (FeedParseError("not_a_feed", "HTML"), True, Evidence.REACHED),
        (TransientFetchError("HTTP 503", url="u", status_code=503), False, Evidence.REACHED),
        (PermanentFetchError("HTTP 404", url="u", status_code=404), False, Evidence.REACHED),
        (_connect_error("a"), False, Evidence.NETWORK_FAILURE),
        (TransientFetchError("t", url="u", error_class="timeout"), False, Evidence.NETWORK_FAILURE),
        (TransientFetchError("d", url="u", error_class="dns"), False, Evidence.NETWORK_FAILURE),
        (BlockedDestination("private", url="u"), False, Evidence.NONE),
        (TransientFetchError("ours", url="u", error_class="rate_limited"), False, Evidence.NONE),
        (PermanentFetchError("cert", url="u", error_class="tls"), False, Evidence.NONE),
    ],
)
def test_evidence(error: Exception | None, got_response: bool, evidence: Evidence) -> None:
    assert evidence_of(error, got_response=got_response) is evidence


def test_outage_needs_enough_hosts_since_the_last_answer(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    with session_scope(sessions) as s:
        assert not note_fetch(s, "up.test", None, settings=SETTINGS, now=now, got_response=True)
        for i, host in enumerate(("a.test", "a.test", "b.test")):
            ours = note_fetch(
                s, host, _connect_error(host), settings=SETTINGS, now=now + timedelta(seconds=i + 1)
            )
            assert not ours  # one, then still one, then two hosts
        assert note_fetch(
            s, "c.test", _connect_error("c.test"), settings=SETTINGS, now=now + timedelta(seconds=5)
        )
        rows = {h.host: h for h in s.scalars(select(HostHealth))}
        assert rows["a.test"].last_failure_class == "connect"
        assert rows["up.test"].last_failure_at is None
        # Any answer resets the count...
        note_fetch(s, "up.test", None, settings=SETTINGS, now=now + timedelta(seconds=6),
                   got_response=True)  # fmt: skip
        assert not local_outage(s, now + timedelta(seconds=6), settings=SETTINGS)


def test_failures_older_than_the_window_do_not_count(sessions: sessionmaker[Session]) -> None:
    start = utcnow()
    with session_scope(sessions) as s:
        for i, host in enumerate(("a.test", "b.test")):
            note_fetch(
                s, host, _connect_error(host), settings=SETTINGS, now=start + timedelta(seconds=i)
            )
        later = start + timedelta(seconds=SETTINGS.outage_window_s + 10)
        assert not note_fetch(s, "c.test", _connect_error("c.test"), settings=SETTINGS, now=later)
        assert note_fetch(
            s, "d.test", _connect_error("d.test"), settings=SETTINGS,
            now=later + timedelta(seconds=1),
        ) is False  # fmt: skip
        assert note_fetch(
            s, "e.test", _connect_error("e.test"), settings=SETTINGS,
            now=later + timedelta(seconds=2),
        )  # fmt: skip


def test_blocked_destinations_leave_no_row(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        note_fetch(s, "10.0.0.1", BlockedDestination("private", url="u"), settings=SETTINGS,
                   now=utcnow())  # fmt: skip
        assert s.scalars(select(HostHealth)).all() == []
