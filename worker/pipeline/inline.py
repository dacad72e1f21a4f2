"""Run the whole pipeline in this process: feed → articles → story step, no broker.

The very same functions the Celery tasks call, in the same order; used by
``storywire fetch --inline`` and by tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from worker.pipeline.article import RetryLater, process_article
from worker.pipeline.feed import refresh_feed
from worker.pipeline.story import assign_story_step, story_config
from worker.runtime import Runtime
from worker.store import Provenance


@dataclass
class InlineSummary:
    feeds: int = 0
    feeds_failed: int = 0
    new_articles: int = 0
    articles_ok: int = 0
    articles_failed: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


#: Called after each step with (what, detail) so a front end can show progress.
ProgressHook = Callable[[str, int], None]


def run_inline(
    runtime: Runtime,
    feed_ids: Iterable[int],
    on_progress: ProgressHook | None = None,
    *,
    run_id: int | None = None,
) -> InlineSummary:
    """Refresh the feeds, then process every new article and assign its story."""
    progress = on_progress or (lambda _what, _n: None)
    provenance = Provenance(run_id=run_id)
    summary = InlineSummary()
    for feed_id in feed_ids:
        refresh = refresh_feed(
            runtime.sessions, runtime.fetcher, runtime.settings, feed_id, provenance
        )
        summary.feeds += 1
        if refresh.outcome in ("error", "gone"):
            summary.feeds_failed += 1
            summary.errors.append(f"feed {feed_id}: {refresh.error_class}: {refresh.error}")
        summary.new_articles += len(refresh.new_article_ids)
        progress("feed", len(refresh.new_article_ids))
        for article_id in refresh.new_article_ids:
            _article(runtime, article_id, summary, provenance)
            progress("article", 1)
    return summary


def _article(
    runtime: Runtime, article_id: int, summary: InlineSummary, provenance: Provenance
) -> None:
    try:
        outcome = process_article(
            runtime.sessions, runtime.fetcher, runtime.settings, article_id, provenance
        )
    except RetryLater as exc:
        # Inline runs do not wait: the article stays pending for a worker or a later run.
        summary.articles_failed += 1
        summary.errors.append(f"article {article_id}: will retry later: {exc}")
        return
    if outcome.status == "ok":
        summary.articles_ok += 1
    elif outcome.status != "skipped":
        summary.articles_failed += 1
        summary.errors.append(f"article {article_id}: {outcome.status}: {outcome.error_class}")
    story = assign_story_step(runtime.sessions, article_id, story_config(runtime.settings))
    if story.duplicate_of is not None:
        summary.duplicates += 1
