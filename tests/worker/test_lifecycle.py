"""The beat process's run: opened at its first tick, stamped at each, opened anew once the
sweeper has closed it (a beat stopped for longer than STORYWIRE_RUN_LOST_AFTER_S)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import Run, RunKind, session_scope, utcnow
from tests.worker.conftest import run_row, set_run
from worker.lifecycle import BeatRun
from worker.resources import Resources
from worker.runs import close_runs


def _beat_runs(rt: Resources) -> list[Run]:
    with session_scope(rt.sessions) as s:
        return list(s.scalars(select(Run).where(Run.kind == RunKind.BEAT).order_by(Run.id)))


def test_the_beat_stamps_its_run_at_each_tick(rt: Resources) -> None:
    ticks = BeatRun(rt.settings)
    ticks.tick()
    [run] = _beat_runs(rt)
    stale = utcnow() - timedelta(minutes=1)
    set_run(rt, run.id, heartbeat_at=stale)
    ticks.tick()
    assert [r.id for r in _beat_runs(rt)] == [run.id]
    assert run_row(rt, run.id).heartbeat_at > stale  # type: ignore[operator]


def test_a_beat_run_the_sweeper_closed_is_opened_anew_at_the_next_tick(rt: Resources) -> None:
    ticks = BeatRun(rt.settings)
    ticks.tick()
    [first] = _beat_runs(rt)
    set_run(rt, first.id, heartbeat_at=utcnow() - timedelta(hours=1))  # the beat was paused
    assert close_runs(rt.sessions, lost_after=timedelta(minutes=5))["lost"] == [first.id]
    ticks.tick()
    old, new = _beat_runs(rt)
    assert (old.id, old.status) == (first.id, "lost")  # it stays closed: its stamps stopped
    assert new.status == "running"
    assert new.heartbeat_at is not None and new.heartbeat_at > utcnow() - timedelta(minutes=1)


def test_close_finishes_the_beat_run_and_only_once(rt: Resources) -> None:
    ticks = BeatRun(rt.settings)
    ticks.close()  # before the first tick: no run, nothing to close
    assert _beat_runs(rt) == []
    ticks.tick()
    ticks.close()
    [run] = _beat_runs(rt)
    assert run.status == "finished" and run.finished_at is not None
    ticks.close()  # a second close (the exit after an explicit one) changes nothing
    assert run_row(rt, run.id).finished_at == run.finished_at
