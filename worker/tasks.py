"""Celery tasks. Thin: load ids, call a plain function from worker.pipeline, map errors.

Follow-up tasks are enqueued only after the pipeline function has committed, so a worker never
picks up an article id whose row is not visible yet, and a rolled-back refresh enqueues nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import setup_logging
from sqlalchemy.exc import InterfaceError, OperationalError

from models import session_scope, utcnow
from worker import metrics
from worker.celery_app import app
from worker.changefeed import prune_changes as prune_old_changes
from worker.config import get_settings
from worker.logs import configure_logging, get_logger
from worker.pipeline import (
    RetryLater,
    StoryStepBusy,
    assign_story_step,
    process_article,
    refresh_feed,
)
from worker.pipeline.article import PageOutcome
from worker.pipeline.retention import prune_articles as prune_old_articles
from worker.pipeline.story import (
    DEFAULT_STORY_BUSY_DELAY_S,
    DEFAULT_STORY_BUSY_RETRIES,
    StoryWakeups,
    refine_window,
    story_config,
    story_delay,
)
from worker.pipeline.sweep import claim_lost_articles
from worker.pipeline.tries import note_time_limit
from worker.resources import Resources, get_resources
from worker.runs import close_runs, finish_if_done
from worker.scheduler import claim_due_feeds
from worker.store import Provenance
from worker.stories.prune import DEFAULT_PRUNE_MAX_BATCHES
from worker.stories.prune import prune_sketches as prune_old_sketches

log = get_logger(__name__)

#: The story tasks this process has sent with a countdown (each pool process its own: they
#: are sent after the fork).
_STORY_WAKEUPS = StoryWakeups()


@setup_logging.connect
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)


class StorywireTask(Task):  # type: ignore[misc]
    """Base task: per-process resources, structured log context with the task id."""

    abstract = True
    # The database went away (restart, failover): the task is safe to run again, so retry
    # it with back-off rather than leave its work to the sweeper.
    autoretry_for = (OperationalError, InterfaceError)
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True

    @property
    def resources(self) -> Resources:
        return get_resources()

    def provenance(self, run_id: int | None) -> Provenance:
        """Who writes: the given run (a one-off fetch) or this worker's own, and this task."""
        return Provenance(run_id or self.resources.worker_run_id(), self.request.id)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(task=self.name, task_id=self.request.id)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            structlog.contextvars.clear_contextvars()


@app.task(base=StorywireTask, bind=True)
def dispatch_due_feeds(self: StorywireTask) -> int:
    """Enqueue ``fetch_feed`` for every due feed (at most N per host per tick)."""
    rt = self.resources
    with session_scope(rt.sessions) as session:
        ids = claim_due_feeds(
            session,
            utcnow(),
            per_host=rt.settings.dispatch_per_host,
            limit=rt.settings.dispatch_batch,
            lease_s=rt.settings.dispatch_lease_s,
        )
    for feed_id in ids:
        fetch_feed.delay(feed_id)
    if ids:
        log.info("dispatched feeds", count=len(ids))
    return len(ids)


@app.task(base=StorywireTask, bind=True)
def fetch_feed(self: StorywireTask, feed_id: int, run_id: int | None = None) -> int:
    structlog.contextvars.bind_contextvars(feed_id=feed_id, run_id=run_id)
    rt = self.resources
    refresh = refresh_feed(rt.sessions, rt.fetcher, rt.settings, feed_id, self.provenance(run_id))
    for article_id in refresh.new_article_ids:
        fetch_article.delay(article_id, run_id)
    log.info(
        "feed refreshed",
        outcome=refresh.outcome,
        entries=refresh.entries_seen,
        new=len(refresh.new_article_ids),
        error_class=refresh.error_class,
    )
    _finish_run_if_done(rt, run_id)
    return len(refresh.new_article_ids)


@app.task(base=StorywireTask, bind=True, max_retries=None)
def fetch_article(self: StorywireTask, article_id: int, run_id: int | None = None) -> str:
    structlog.contextvars.bind_contextvars(article_id=article_id, run_id=run_id)
    rt = self.resources
    try:
        outcome = process_article(
            rt.sessions, rt.fetcher, rt.settings, article_id, self.provenance(run_id)
        )
    except SoftTimeLimitExceeded:
        # The try stays counted as unfinished, so the tries are bounded however soon they
        # come: the retry goes to the back of the queue at once.
        note_time_limit(rt.sessions, article_id, rt.settings.task_soft_time_limit_s)
        log.warning("article fetch ran past the time limit, will be retried")
        raise self.retry(countdown=0) from None
    except RetryLater as exc:
        log.info("article fetch will be retried", attempts=exc.attempts, countdown=exc.countdown)
        raise self.retry(countdown=exc.countdown) from exc
    if outcome.status != PageOutcome.SKIPPED:
        # Committed: a story task this process sent with a countdown still to run will find
        # the article, and one of its own is sent only when none will (StoryWakeups).
        delay = story_delay(rt.sessions, outcome.pages_pending)
        _STORY_WAKEUPS.send(
            run_id,
            delay,
            lambda: assign_story.apply_async(
                (article_id, run_id), {"last": not delay, "wakeup": True}, countdown=delay
            ),
        )
    else:
        _finish_run_if_done(rt, run_id)
    log.info("article processed", status=outcome.status, error_class=outcome.error_class)
    return outcome.status


@app.task(base=StorywireTask, bind=True)
def assign_story(
    self: StorywireTask,
    article_id: int,
    run_id: int | None = None,
    last: bool = False,
    wakeup: bool = False,
) -> int | None:
    """The story step of an article and the others waiting (``assign_story_step``).

    ``last``: sent when no page was pending any more (``story_delay``). Such a step waits for
    a busy story-step lock rather than come back a delay later: the batch holding it was
    chosen before this article was stored, and no other work is coming meanwhile.

    ``wakeup``: sent by an article task for the articles stored after it too, which have no
    task of their own (``StoryWakeups``): it runs a batch whatever became of its article, and
    sends another such step while articles may still be waiting."""
    structlog.contextvars.bind_contextvars(article_id=article_id)
    rt = self.resources
    busy = self.request.retries or 0
    try:
        with metrics.time_story_step():
            outcome = assign_story_step(
                rt.sessions,
                article_id,
                story_config(rt.settings),
                batch=rt.settings.story_batch,
                batches=rt.settings.story_batches,
                wait=last or busy >= DEFAULT_STORY_BUSY_RETRIES,
                wakeup=wakeup,
            )
    except StoryStepBusy as exc:
        raise self.retry(countdown=DEFAULT_STORY_BUSY_DELAY_S, max_retries=None) from exc
    if outcome.more:  # a backlog longer than this step works off, or a failed backlog batch
        assign_story.apply_async((article_id, run_id), {"wakeup": True})
    _finish_run_if_done(rt, run_id)
    return outcome.story_id


def _finish_run_if_done(rt: Resources, run_id: int | None) -> None:
    # A one-off `storywire fetch` has no process of its own to close its run: the task that
    # completes its work does (the sweeper too, should that task be lost).
    if run_id is not None and finish_if_done(rt.sessions, run_id):
        log.info("run finished", run_id=run_id)


@app.task(base=StorywireTask, bind=True)
def sweep(self: StorywireTask) -> int:
    """Re-enqueue work lost with a task (killed worker, broker restart): stubs still pending,
    and extracted articles still without a story (``worker.pipeline.sweep``). Then close
    runs: those whose process stopped beating are lost, queued fetches whose work is done
    finished."""
    rt = self.resources
    stale_before = utcnow() - timedelta(seconds=rt.settings.stale_pending_after_s)
    lost = claim_lost_articles(rt.sessions, stale_before=stale_before)
    for article_id in lost.pending:
        fetch_article.delay(article_id)
    for article_id in lost.unassigned:
        assign_story.delay(article_id)
    closed = close_runs(rt.sessions, lost_after=timedelta(seconds=rt.settings.run_lost_after_s))
    if closed["lost"] or closed["finished"]:
        log.info("runs closed", **closed)
    return len(lost.pending) + len(lost.unassigned)


@app.task(base=StorywireTask, bind=True)
def prune_changes(self: StorywireTask) -> int:
    """Delete changes older than the retention period (consumers read by cursor long before)."""
    rt = self.resources
    removed = prune_old_changes(rt.engine, timedelta(days=rt.settings.changes_retention_days))
    if removed:
        log.info("pruned changes", count=removed)
    return removed


@app.task(base=StorywireTask, bind=True)
def prune_sketches(self: StorywireTask) -> int:
    """Delete the MinHash sketches and LSH bands of articles older than the syndication window
    (a bounded number of batches per run: a backlog is worked off over several runs)."""
    rt = self.resources
    removed = prune_old_sketches(
        rt.sessions,
        timedelta(days=rt.settings.syndication_window_days),
        max_batches=DEFAULT_PRUNE_MAX_BATCHES,
    )
    if removed:
        log.info("pruned sketches", count=removed)
    return removed


@app.task(base=StorywireTask, bind=True)
def refine_stories(self: StorywireTask) -> int:
    """Re-cluster the live window of stories and correct the stored ones (merges, splits,
    moved articles); how many articles changed story (the churn)."""
    rt = self.resources
    with metrics.time_refinement():
        report = refine_window(rt.sessions, rt.settings)
    log.info(
        "stories refined",
        articles=report.articles,
        stories=report.stories,
        moved=report.moved,
        split=report.split,
        merged=report.merged,
        conflict=report.conflict,
    )
    return report.moved


@app.task(base=StorywireTask, bind=True)
def prune_articles(self: StorywireTask) -> int:
    """Delete articles older than ``STORYWIRE_ARTICLE_RETENTION_DAYS``, when it is set."""
    days = self.resources.settings.article_retention_days
    if days is None:
        return 0
    removed = prune_old_articles(self.resources.sessions, timedelta(days=days))
    if removed:
        log.info("pruned articles", count=removed)
    return removed
