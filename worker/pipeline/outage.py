"""Is it them or us? Telling a local network outage from failing feeds.

Usage::

    with session_scope(sessions) as session:
        ours = note_fetch(session, "news.example", error, settings=settings, now=utcnow())
    if ours:
        ...  # reschedule the feed, do not count the error against it

When the worker's own network goes down (cable, DNS resolver, firewall), every fetch fails
at once with connect, DNS or timeout errors. Counting those against each feed would push
thousands of healthy feeds into back-off and mark them erroring. So every fetch records what
it says about the network in ``host_health`` (one row per host; a 304 while hosts are
answering is left out, see ``worker.pipeline.not_modified``):

- a response of any kind, even a 404 or 503, proves the network works (``last_ok_at``);
- a connect, DNS or timeout failure, with no response at all, is a vote for an outage
  (``last_failure_at``);
- anything else (a refused destination, our own rate limit) says nothing.

A failure is judged ours when at least ``settings.outage_min_hosts`` distinct hosts have
failed that way since the last response from *any* host, within the last
``settings.outage_window_s``. One dead site is one host and never trips it; a few sites
down while others answer do not either, since each answer resets the count. The first
failures of a real outage (before enough hosts have failed) still count: that costs those
few feeds one back-off step, and keeps the rule simple and cheap (two indexed queries on a
table with one row per host).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import NETWORK_ERROR_CLASSES, HostHealth
from worker.config import Settings
from worker.store.upsert import dialect_insert


class Evidence(StrEnum):
    REACHED = "reached"  # the host answered: our network works
    NETWORK_FAILURE = "network_failure"  # no answer at network level
    NONE = "none"  # says nothing about the network


def evidence_of(error: BaseException | None, *, got_response: bool) -> Evidence:
    """What one fetch says about our network (``got_response``: an HTTP response arrived)."""
    if got_response or error is None:
        return Evidence.REACHED
    if getattr(error, "status_code", None) is not None:
        return Evidence.REACHED
    if getattr(error, "error_class", None) in NETWORK_ERROR_CLASSES:
        return Evidence.NETWORK_FAILURE
    return Evidence.NONE


def note_fetch(
    session: Session,
    host: str,
    error: BaseException | None,
    *,
    settings: Settings,
    now: datetime,
    got_response: bool = False,
) -> bool:
    """Record what a fetch to ``host`` says about the network.

    Returns True when the fetch failed at network level *and* the failure looks like a
    local outage (see the module docstring): the caller should not count it as the feed's.
    """
    evidence = evidence_of(error, got_response=got_response)
    if evidence is Evidence.NONE or not host:
        return False
    if evidence is Evidence.REACHED:
        _upsert(session, host, {"last_ok_at": now})
        return False
    # A network failure: its error class is one of NETWORK_ERROR_CLASSES.
    failure_class = str(getattr(error, "error_class", ""))
    _upsert(session, host, {"last_failure_at": now, "last_failure_class": failure_class})
    return local_outage(session, now, settings=settings)


def local_outage(session: Session, now: datetime, *, settings: Settings) -> bool:
    """True when enough distinct hosts failed at network level since the last response."""
    since = now - timedelta(seconds=settings.outage_window_s)
    last_ok = session.execute(select(func.max(HostHealth.last_ok_at))).scalar_one_or_none()
    if last_ok is not None and last_ok > since:
        since = last_ok
    failing = session.execute(
        select(func.count()).select_from(HostHealth).where(HostHealth.last_failure_at > since)
    ).scalar_one()
    return int(failing) >= settings.outage_min_hosts


def _upsert(session: Session, host: str, values: dict[str, object]) -> None:
    stmt = dialect_insert(session, HostHealth).values(host=host[:255], **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["host"], set_=values))
