"""Run the whole pipeline in this process: feeds → articles → story step, no broker.

Usage::

    summary = run_inline(resources, feed_ids, concurrency=8, run_id=run_id)
    summary.articles_ok, summary.articles_failed, summary.pending   # {"dns": 12, ...}

The very same functions the Celery tasks call; used by ``storywire fetch --inline`` and by
tests. The network is used on ``concurrency`` threads, **host by host**: each feed and each
article is queued under its host, a host has one request in flight at a time, and the threads
take the hosts in turn. Each request still waits for its host's turn in the shared per-host
limiter, but the other hosts are worked meanwhile, so a run takes about as long as its
busiest host, not the sum of every host's politeness delays.

A host that failed at DNS or connect (no answer at all) is not asked again in this run: its
remaining articles stay ``pending``, with the reason on their rows (``error_class``,
``error``), for a worker or a later run. The summary counts them apart from failed articles,
by reason. The story step runs in batches (``story_batch``), as the worker's does, on a
thread of its own while pages come in, and once more over what is left at the end.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from models import Article, ArticleStatus, ErrorClass, Feed, FetchOutcome, session_scope
from worker.pipeline.article import PageOutcome, RetryLater, process_article
from worker.pipeline.feed import FeedRefresh, refresh_feed
from worker.pipeline.story import assign_story_step, drain_backlog, story_config
from worker.resources import Resources
from worker.store import Provenance
from worker.urls import host_of

log = logging.getLogger(__name__)

#: Threads that use the network at once (hosts worked in parallel).
DEFAULT_CONCURRENCY = 8
#: ``error_class`` of fetch failures that mean the host does not answer at all: its other
#: articles are not tried again in the same run.
UNREACHABLE = frozenset({ErrorClass.DNS, ErrorClass.CONNECT})
#: Ids per statement when the run's articles are read back or marked.
_CHUNK = 1000


@dataclass
class InlineSummary:
    feeds: int = 0
    feeds_failed: int = 0
    new_articles: int = 0
    articles_ok: int = 0
    articles_failed: int = 0
    duplicates: int = 0
    #: Articles left pending, by reason (``dns``, ``connect``, ``rate_limited``, ...).
    pending: dict[str, int] = field(default_factory=dict)
    #: Hosts not asked again in this run, and why (``dns`` / ``connect``).
    unreachable_hosts: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def articles_pending(self) -> int:
        return sum(self.pending.values())


#: Called after each step with (what, detail) so a front end can show progress.
ProgressHook = Callable[[str, int], None]


def run_inline(
    resources: Resources,
    feed_ids: Iterable[int],
    on_progress: ProgressHook | None = None,
    *,
    run_id: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> InlineSummary:
    """Refresh the feeds, process every new article and assign the stories."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    feed_ids = list(feed_ids)
    run = _Run(resources, Provenance(run_id=run_id), on_progress or (lambda _what, _n: None))
    with session_scope(resources.sessions) as session:
        rows = session.execute(select(Feed.id, Feed.host).where(Feed.id.in_(feed_ids))).all()
        hosts = {row.id: row.host for row in rows}
    for feed_id in feed_ids:
        run.queue(hosts.get(feed_id, ""), ("feed", feed_id))
    run.work(concurrency)
    run.finish_stories()
    run.tally()
    return run.summary


_Item = tuple[str, int]  # ("feed" | "article", id)


class _Run:
    """The per-host queues of one run and the threads that work them."""

    def __init__(
        self, resources: Resources, provenance: Provenance, progress: ProgressHook
    ) -> None:
        self.rt = resources
        self.provenance = provenance
        self.progress = progress
        self.summary = InlineSummary()
        self.articles: list[int] = []
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._queues: dict[str, deque[_Item]] = defaultdict(deque)
        self._active: set[str] = set()  # hosts a thread is working on
        self._skipped: dict[str, tuple[str, str]] = {}  # unreachable host -> (class, why)
        self._jobs = 0
        self._pool: ThreadPoolExecutor | None = None
        self._stories: ThreadPoolExecutor | None = None
        self._story_running = False
        self._stored = 0  # articles stored since the story step last started
        self._error: BaseException | None = None

    # --- scheduling ------------------------------------------------------------------------

    def queue(self, host: str, item: _Item) -> None:
        with self._lock:
            dead = self._skipped.get(host)
            if dead is None:
                self._queues[host].append(item)
                self._start(host)
        if dead is not None:  # linked by a feed read after its host failed
            _mark_pending(self.rt, [item[1]], *dead)
            self.progress("article", 1)

    def work(self, concurrency: int) -> None:
        """Work every queue until all are empty (items queue more items as they go)."""
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="storywire-inline")
        stories = ThreadPoolExecutor(1, thread_name_prefix="storywire-stories")
        try:
            with self._lock:
                self._pool, self._stories = pool, stories
                for host in list(self._queues):
                    self._start(host)
                while self._jobs:
                    self._done.wait()
        except BaseException as exc:  # Ctrl-C: the threads finish their step and stop
            with self._lock:
                self._error = self._error or exc
            raise
        finally:
            pool.shutdown(wait=True)
            stories.shutdown(wait=True)
            self._pool = self._stories = None
        if self._error is not None:
            raise self._error

    def _start(self, host: str) -> None:
        # Under the lock. A host has one job at a time, queued or running, and a job does one
        # item: the next one is queued behind the other hosts' (the pool's queue is FIFO), so
        # the threads go round the hosts, and each host's next request tends to come when
        # its turn with the rate limiter has come too, with nobody sleeping for it.
        if self._pool is None or self._error is not None:
            return
        if host in self._active or not self._queues[host]:
            return
        self._active.add(host)
        self._jobs += 1
        self._pool.submit(self._step, host)

    def _step(self, host: str) -> None:
        try:
            with self._lock:
                queue = self._queues[host]
                item = queue.popleft() if queue and self._error is None else None
            if item is not None:
                kind, item_id = item
                if kind == "feed":
                    self._feed(item_id)
                else:
                    self._article(host, item_id)
        except BaseException as exc:  # a bug or the database gone: stop, report in work()
            with self._lock:
                self._error = self._error or exc
        finally:
            with self._lock:
                self._active.discard(host)
                self._jobs -= 1
                self._start(host)
                self._done.notify_all()

    # --- the steps -------------------------------------------------------------------------

    def _feed(self, feed_id: int) -> None:
        refresh = refresh_feed(
            self.rt.sessions, self.rt.fetcher, self.rt.settings, feed_id, self.provenance
        )
        with self._lock:
            self._count_feed(refresh)
        self.progress("feed", len(refresh.new_article_ids))
        for article_id in refresh.new_article_ids:
            self.queue(host_of(refresh.article_urls.get(article_id, "")), ("article", article_id))

    def _count_feed(self, refresh: FeedRefresh) -> None:
        self.summary.feeds += 1
        if refresh.outcome in (FetchOutcome.ERROR, FetchOutcome.GONE):
            self.summary.feeds_failed += 1
            self.summary.errors.append(
                f"feed {refresh.feed_id}: {refresh.error_class}: {refresh.error}"
            )
        self.summary.new_articles += len(refresh.new_article_ids)
        self.articles.extend(refresh.new_article_ids)

    def _article(self, host: str, article_id: int) -> None:
        try:
            outcome = process_article(
                self.rt.sessions, self.rt.fetcher, self.rt.settings, article_id, self.provenance
            )
        except RetryLater as exc:
            # Inline runs do not wait: the article stays pending for a worker or a later run,
            # with the reason on its row (our own rate limit or outage leave none there).
            _mark_pending(self.rt, [article_id], exc.error_class, str(exc)[:2000])
            if exc.error_class in UNREACHABLE and exc.status_code is None:
                self._unreachable(host, exc.error_class, str(exc))
        else:
            with self._lock:
                if outcome.status not in (PageOutcome.OK, PageOutcome.SKIPPED):
                    self.summary.errors.append(
                        f"article {article_id}: {outcome.status}: {outcome.error_class}"
                    )
                if outcome.status != PageOutcome.SKIPPED:
                    self._stored += 1
                    self._start_stories()
        self.progress("article", 1)

    def _start_stories(self) -> None:
        # Under the lock. The story step's batches run on a thread of their own while pages
        # come in: much of their time is the database's, which the page threads use meanwhile.
        batch = self.rt.settings.story_batch
        if self._stories is None or self._story_running or self._error is not None:
            return
        if self._stored < batch:
            return
        self._story_running, self._stored = True, 0
        self._jobs += 1
        self._stories.submit(self._story_batches)

    def _story_batches(self) -> None:
        try:
            drain_backlog(
                self.rt.sessions,
                story_config(self.rt.settings),
                batch=self.rt.settings.story_batch,
                batches=self.rt.settings.story_batches,
            )
        except Exception:  # the final pass assigns them one task-like call each, and records
            log.warning("story batch failed during the run; left to the final pass", exc_info=True)
        finally:
            with self._lock:
                self._story_running = False
                self._jobs -= 1
                self._start_stories()
                self._done.notify_all()

    def _unreachable(self, host: str, error_class: str, message: str) -> None:
        """Skip the host's other articles for this run; each keeps the reason on its row."""
        reason = f"{host} unreachable ({error_class}) in this run, not tried: {message}"
        with self._lock:
            self.summary.unreachable_hosts[host] = error_class
            self._skipped[host] = (error_class, reason[:2000])
            skipped = [item_id for kind, item_id in self._queues.pop(host, ()) if kind == "article"]
        _mark_pending(self.rt, skipped, error_class, reason[:2000])
        self.progress("article", len(skipped))

    def finish_stories(self) -> None:
        """The story step for the run's articles, batched as the worker's task does it."""
        config = story_config(self.rt.settings)
        for article_id in _waiting_for_story(self.rt, self.articles):
            try:
                assign_story_step(
                    self.rt.sessions,
                    article_id,
                    config,
                    batch=self.rt.settings.story_batch,
                    batches=self.rt.settings.story_batches,
                )
            except Exception as exc:  # recorded on the row; the others go on
                self.summary.errors.append(f"article {article_id}: story step: {exc}")

    def tally(self) -> None:
        """Count the run's articles by their rows: every one is ok, failed or pending."""
        statuses: Counter[str] = Counter()
        pending: Counter[str] = Counter()
        duplicates = 0
        with session_scope(self.rt.sessions) as session:
            for chunk in _chunks(self.articles):
                rows = session.execute(
                    select(
                        Article.status,
                        Article.error_class,
                        func.count(),
                        func.count(Article.duplicate_of),
                    )
                    .where(Article.id.in_(chunk))
                    .group_by(Article.status, Article.error_class)
                )
                for status, error_class, count, copies in rows:
                    statuses[str(status)] += count
                    duplicates += copies
                    if status == ArticleStatus.PENDING:
                        pending[error_class or "not_tried"] += count
        self.summary.articles_ok = statuses[ArticleStatus.OK]
        self.summary.articles_failed = sum(
            n for s, n in statuses.items() if s not in (ArticleStatus.OK, ArticleStatus.PENDING)
        )
        self.summary.pending = dict(pending.most_common())
        self.summary.duplicates = duplicates


def _mark_pending(
    resources: Resources, article_ids: Sequence[int], error_class: str, why: str
) -> None:
    with session_scope(resources.sessions) as session:
        for chunk in _chunks(article_ids):
            session.execute(
                update(Article)
                .where(Article.id.in_(chunk), Article.status == ArticleStatus.PENDING)
                .values(error_class=error_class, error=why)
                .execution_options(synchronize_session=False)
            )


def _waiting_for_story(resources: Resources, article_ids: Sequence[int]) -> list[int]:
    waiting: list[int] = []
    with session_scope(resources.sessions) as session:
        for chunk in _chunks(article_ids):
            waiting.extend(
                session.scalars(
                    select(Article.id).where(
                        Article.id.in_(chunk),
                        Article.status != ArticleStatus.PENDING,
                        Article.story_id.is_(None),
                    )
                )
            )
    return sorted(waiting)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    return (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK))
