"""The story step: exact copy → syndicated copy → same event → new story.

A thin wrapper over ``worker.stories`` (the layers and their state live there) that owns the
transactions, batches and failures. Serialized: the story-step lock is taken
first, so two workers never open two stories for one event at the same moment.

The worker's task assigns in batches: with its article, the other articles waiting for a story
(a backlog on the ``stories`` queue), oldest report first, in one transaction — the same
results as one transaction each, for a fraction of the database work per article.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models import Article, ArticleStatus, read_scope, session_scope
from worker.config import Settings
from worker.stories import (
    ALREADY_ASSIGNED,
    DEFAULT_CONFIG,
    Assignment,
    Prepared,
    RefineReport,
    StoryConfig,
    StoryDoc,
    assign_stories,
    lock_story_step,
    prepare_features,
    record_story_failure,
    refine_stories,
    try_lock_story_step,
    unassigned_articles,
    waiting_docs,
)

log = logging.getLogger(__name__)

#: An article's story step runs this long after its page is stored (the task's countdown), so
#: that the articles stored meanwhile wait too and the step assigns them all in one batch
#: (``STORYWIRE_STORY_BATCH``). Run at once, each would be a batch of one while pages keep
#: coming in. Each worker process starts a countdown of its own (``StoryWakeups``): with 2
#: processes, 2 s makes about one batch a second, of ~20 articles at 20 pages a second, where
#: 1 s made batches half that size and cost 1 ms more of story-step CPU and 0.5 ms of
#: Postgres an article (bench/pipeline.py). Once no page is pending, none waits
#: (``story_delay``).
DEFAULT_STORY_DELAY_S = 2.0
#: A story step that finds another worker holding the story-step lock comes back this much
#: later (``assign_story_step(..., wait=False)``).
DEFAULT_STORY_BUSY_DELAY_S = 1.0
#: Times a story step comes back later (``DEFAULT_STORY_BUSY_DELAY_S``) rather than wait while
#: another worker holds the story-step lock (``assign_story_step(..., wait=False)``): a
#: process blocked on that lock does nothing, and the holder's batch most likely assigns this
#: article. After that, it waits.
DEFAULT_STORY_BUSY_RETRIES = 3
#: How long before a story task's countdown ends an article must be stored for that task to
#: be sure to find it (``StoryWakeups``): the countdown is wall-clock time, compared on the
#: clock of whichever worker consumes the task, so two hosts' clocks may disagree this much.
DEFAULT_WAKEUP_MARGIN_S = 0.25
#: Runs whose story tasks a process remembers before it forgets those whose countdown ended.
DEFAULT_WAKEUP_RUNS = 64
#: Articles the offline backfill assigns per transaction.
DEFAULT_BACKFILL_BATCH = 32
#: Longest ``articles.story_error`` kept (the exception's class and the start of its message).
DEFAULT_STORY_ERROR_CHARS = 500

_ANY_PAGE_PENDING = select(Article.id).where(Article.status == ArticleStatus.PENDING).limit(1)

_ASSIGNED = select(Article.story_id, Article.duplicate_of).where(
    Article.id == bindparam("id"), Article.story_id.is_not(None)
)

#: The database went away (restart, failover), not the article's fault: such a failure is not
#: counted on its row, and the task retries (``worker.tasks.StorywireTask.autoretry_for``).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


class StoryStepBusy(Exception):
    """Another worker holds the story-step lock (``assign_story_step(..., wait=False)``)."""


@dataclass
class StoryOutcome:
    article_id: int
    duplicate_of: int | None = None
    story_id: int | None = None
    new_story: bool = False
    method: str | None = None  # a StoryMethod, or ALREADY_ASSIGNED; None: nothing to assign
    more: bool = False  # articles may still be waiting: the last batch was full, or failed


def story_config(settings: Settings) -> StoryConfig:
    """The shipped story configuration with the deployment's time window."""
    return DEFAULT_CONFIG.with_(window=timedelta(hours=settings.story_window_hours))


def assign_story_step(
    sessions: sessionmaker[Session],
    article_id: int,
    config: StoryConfig = DEFAULT_CONFIG,
    *,
    batch: int = 1,
    batches: int = 1,
    wait: bool = True,
    wakeup: bool = False,
) -> StoryOutcome:
    """Assign an extracted article to its story (idempotent; pending articles are skipped).

    ``wait=False`` (with ``batch`` > 1): raise ``StoryStepBusy`` rather than wait while
    another worker holds the story-step lock; that worker's batch most likely takes this
    article too, and the caller has better things to do than wait (the task comes back later).

    With ``batch`` > 1, the oldest other articles still without a story are assigned with it
    in the same transaction (``batch`` in all), in the order of their reports; with
    ``batches`` > 1, while full batches are found, up to ``batches - 1`` more batches of the
    backlog follow, one transaction each, each next batch's features computed while the one
    before is written (``assign_stories``' ``meanwhile``). Should the first transaction fail,
    the article is assigned alone: one article that cannot be assigned holds up only its own
    task (the others are still waiting, and their own tasks or the sweep come back to them).
    A failure alone is recorded on the article's row (``story_error``, ``story_attempts``),
    and from then on batches leave the article out: its own task assigns it alone.

    ``wakeup``: other articles rely on this step, their own tasks not sent
    (``StoryWakeups``). It runs a batch even when its article has its story already, and
    should that batch fail, assigns each of its articles alone (a failure recorded on the
    row of the article that failed). The outcome's ``more`` says that articles may still be
    waiting (the last batch was full, or a backlog batch failed): the caller sends another
    step for them.
    """
    more = False
    if batch > 1:
        if not wakeup:
            done = _assigned_already(sessions, article_id)
            if done is not None:
                return done
        ids: list[int] = []
        try:
            with session_scope(sessions) as session:
                # Chosen under the lock: no other worker is choosing or assigning meanwhile.
                if wait:
                    lock_story_step(session)
                elif not try_lock_story_step(session):
                    raise StoryStepBusy(f"article {article_id}: the story step is busy")
                ids = unassigned_articles(session, batch, include=article_id)
                more = len(ids) >= batch  # a full batch: more may be waiting behind it
                results, upcoming = _assign_preparing(session, ids, {}, config, batch, batches)
            if batches > 1 and more:
                more = _drain(sessions, upcoming, config, batch, batches - 1)
            if article_id in results:
                return replace(_outcome(article_id, results[article_id]), more=more)
            # Not in the batch: a wakeup's article may have its story already; else it failed
            # before, or is gone: the others are done, it goes alone.
            done = _assigned_already(sessions, article_id) if wakeup else None
            if done is not None:
                return replace(done, more=more)
        except StoryStepBusy:
            raise
        except Exception:  # whatever it was, the article alone is tried next (that one raises)
            log.warning("story batch failed; assigning article %s alone", article_id, exc_info=True)
            if wakeup:  # the others have no task of their own to do the same
                _assign_each_alone(sessions, [i for i in ids if i != article_id], config)
    try:
        with session_scope(sessions) as session:
            result = assign_stories(session, [article_id], config)[0]
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        _record_failure(sessions, article_id, exc)
        raise
    return replace(_outcome(article_id, result), more=more)


def _assign_each_alone(
    sessions: sessionmaker[Session], article_ids: Sequence[int], config: StoryConfig
) -> None:
    """Assign these articles one transaction each (those of a failed batch): the one that
    fails the batch has its failure recorded, and the others their stories."""
    for article_id in article_ids:
        try:
            with session_scope(sessions) as session:
                assign_stories(session, [article_id], config)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            log.warning("story step of article %s failed", article_id, exc_info=True)
            _record_failure(sessions, article_id, exc)


class StoryWakeups:
    """Whether an article just stored needs a story task of its own, in one process.

    Usage (the article task, after its article is committed)::

        wakeups = StoryWakeups()                # one per process
        wakeups.send(run_id, delay, lambda: assign_story.apply_async(..., countdown=delay))

    A story task sent with a countdown runs its batch no sooner than the countdown ends, so it
    finds every article committed before then: an article stored more than
    ``DEFAULT_WAKEUP_MARGIN_S`` before the end of a countdown this process started needs no
    task of its own (one task a second per process instead of one per article, each costing
    the broker, Celery and a read). The task must then run its batch whatever became of its
    own article (``assign_story_step(..., wakeup=True)``). By run: the task that assigns a
    one-off fetch's articles is the one that closes its run. Without a countdown (``delay``
    0: no page pending), a task is always sent, to run at once.
    """

    def __init__(
        self, margin_s: float = DEFAULT_WAKEUP_MARGIN_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._margin_s = margin_s
        self._clock = clock
        self._due: dict[int | None, float] = {}  # run id -> when its last countdown ends

    def send(self, run_id: int | None, delay: float, send: Callable[[], object]) -> bool:
        """Call ``send`` unless a task this process sent for ``run_id`` will find the article;
        whether it was called. The countdown is counted from before the call, so it ends no
        later than the one the broker was given; an exception from ``send`` leaves it out."""
        now = self._clock()
        if delay > 0 and now < self._due.get(run_id, -math.inf) - self._margin_s:
            return False
        send()
        if delay > 0:
            if len(self._due) >= DEFAULT_WAKEUP_RUNS:  # a long-lived worker sees many runs
                self._due = {run: due for run, due in self._due.items() if due > now}
            self._due[run_id] = now + delay
        return True


def story_delay(sessions: sessionmaker[Session], pending: bool | None = None) -> float:
    """How long the story step of an article just stored waits (its task's countdown).

    ``DEFAULT_STORY_DELAY_S`` while pages are still to be fetched: their articles, stored
    meanwhile, join its batch. 0 once no page is pending (the end of a burst, a one-off
    fetch's last page): nothing is coming for the batch to wait for, and the articles already
    waiting get their stories a delay sooner. ``pending``: whether pages are, if the article's
    write read it already (``ArticleOutcome.pages_pending``); None: read here."""
    if pending is None:
        with read_scope(sessions) as session:
            pending = session.execute(_ANY_PAGE_PENDING).first() is not None
    return DEFAULT_STORY_DELAY_S if pending else 0.0


def _assigned_already(sessions: sessionmaker[Session], article_id: int) -> StoryOutcome | None:
    """The outcome of an article a batch has assigned already: most tasks of a burst find
    theirs done by the first one's batch, and need neither the lock nor a batch of their own.
    (Read without the lock: a story, once set, is never taken away.)"""
    with read_scope(sessions) as session:
        row = session.execute(_ASSIGNED, {"id": article_id}).first()
    if row is None:
        return None
    return StoryOutcome(article_id, row.duplicate_of, row.story_id, False, ALREADY_ASSIGNED)


def _drain(
    sessions: sessionmaker[Session],
    prepared: dict[int, Prepared],
    config: StoryConfig,
    batch: int,
    batches: int,
) -> bool:
    """``drain_backlog`` for a task that has done its own batch; whether articles may still be
    waiting (every batch was full, or one failed). A failure ends the drain, not the task:
    the next step takes those articles first (alone, should they fail it again)."""
    try:
        done = drain_backlog(sessions, config, batch=batch, batches=batches, prepared=prepared)
    except Exception:
        log.warning("story backlog batch failed; the next story step retries", exc_info=True)
        return True
    return done >= batch * batches


def drain_backlog(
    sessions: sessionmaker[Session],
    config: StoryConfig = DEFAULT_CONFIG,
    *,
    batch: int,
    batches: int,
    prepared: dict[int, Prepared] | None = None,
    prepare: bool = True,
    on_batch: Callable[[Sequence[int]], object] | None = None,
) -> int:
    """Assign the articles waiting for a story, oldest report first, ``batch`` per transaction,
    up to ``batches`` transactions while full ones are found; how many were assigned.

    ``prepare``: compute each next batch's features while the batch before is written (off:
    the reference ``bench/stories_scale.py --backlog`` compares with); ``prepared``: those of
    the first batch, if computed already. ``on_batch``: called with each batch's ids after
    its commit."""
    done = 0
    upcoming = prepared or {}
    for left in range(batches, 0, -1):
        with session_scope(sessions) as session:
            lock_story_step(session)
            ids = unassigned_articles(session, batch)
            if not ids:
                break
            _, upcoming = _assign_preparing(
                session, ids, upcoming, config, batch, left if prepare else 1
            )
        done += len(ids)
        if on_batch is not None:
            on_batch(ids)
        if len(ids) < batch:
            break
    return done


def _assign_preparing(
    session: Session,
    ids: Sequence[int],
    prepared: dict[int, Prepared],
    config: StoryConfig,
    batch: int,
    batches: int,
) -> tuple[dict[int, Assignment | None], dict[int, Prepared]]:
    """Assign ``ids`` (under the lock already); when another batch follows (``batches`` > 1)
    and more articles wait, prepare the next ones' features while this batch's writes run on
    the server. Returns the assignments and those features."""
    upcoming: dict[int, Prepared] = {}
    docs: list[StoryDoc] = []
    if batches > 1 and len(ids) >= batch:
        chosen = set(ids)
        following = unassigned_articles(session, len(ids) + batch)
        docs = waiting_docs(session, [i for i in following if i not in chosen][:batch])

    def prepare() -> None:
        upcoming.update(prepare_features(docs, config))

    done = assign_stories(
        session, ids, config, prepared=prepared, meanwhile=prepare if docs else None
    )
    return dict(zip(ids, done, strict=True)), upcoming


def refine_window(sessions: sessionmaker[Session], settings: Settings) -> RefineReport:
    """Refine the live window: the stories active within ``settings.refine_window_hours`` of
    the newest article, at most ``settings.refine_max_articles`` articles (beat's task)."""
    return refine_stories(
        sessions,
        window=timedelta(hours=settings.refine_window_hours),
        max_articles=settings.refine_max_articles,
        story_config=story_config(settings),
    )


def story_error(exc: BaseException) -> str:
    """What ``articles.story_error`` says about a failure: the class, then the message."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return message[:DEFAULT_STORY_ERROR_CHARS]


def _record_failure(sessions: sessionmaker[Session], article_id: int, exc: Exception) -> None:
    """Record the failure on the article's row, in a transaction of its own (the failed one is
    rolled back). Best effort: the caller raises ``exc`` whatever happens here."""
    try:
        with session_scope(sessions) as session:
            record_story_failure(session, article_id, story_error(exc))
    except Exception:
        log.exception("could not record the story failure of article %s", article_id)


def assign_backfill_batch(
    sessions: sessionmaker[Session],
    article_ids: Sequence[int],
    config: StoryConfig = DEFAULT_CONFIG,
    *,
    prepared: dict[int, Prepared] | None = None,
    following: Sequence[int] = (),
) -> tuple[list[StoryOutcome], dict[int, Prepared]]:
    """Assign these articles, in this order, in one transaction (the offline backfill's step);
    ``prepared``: their features, if computed already. The features of the ``following``
    articles are computed while this batch is written, and returned with the outcomes."""
    upcoming: dict[int, Prepared] = {}
    with session_scope(sessions) as session:
        docs = waiting_docs(session, following)

        def prepare() -> None:
            upcoming.update(prepare_features(docs, config))

        results = assign_stories(
            session, article_ids, config, prepared=prepared, meanwhile=prepare if docs else None
        )
    return [_outcome(i, r) for i, r in zip(article_ids, results, strict=True)], upcoming


def _outcome(article_id: int, result: Assignment | None) -> StoryOutcome:
    if result is None:
        return StoryOutcome(article_id)
    return StoryOutcome(
        article_id, result.duplicate_of, result.story_id, result.new_story, result.method
    )
