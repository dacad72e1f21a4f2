"""Refinement: the live window re-clustered, and the stored stories corrected to match.

Usage::

    report = refine_stories(sessions, window=timedelta(hours=72), max_articles=20_000)
    report.moved, report.split, report.merged, report.conflict

The online step (``assign_stories``) stays the first answer; this is the correction, run
periodically by beat (``worker.tasks.refine_stories``) and at the end of ``storywire cluster``.

1. **Read** (a short transaction, no lock): the stories active within ``window`` of the newest
   article (most recently active first, whole stories, up to ``max_articles`` articles) and
   their articles; each original's TF-IDF vector from the stored term statistics.
2. **Cluster** (no transaction): ``worker.stories.partition.cluster`` and ``reconcile``.
3. **Write** (one transaction, under the story-step lock, so no online batch interleaves):
   if an article of the window changed story, or a story of it was merged, since step 1,
   nothing is written (``conflict``; the next run starts over). Otherwise the moves, new
   stories of splits and merges, each changed story's centroid, postings, counts and
   keywords, and the outbox rows: ``story.split`` (a new story cut from ``split_from``),
   ``story.merged``, ``story.updated`` (``method`` "refine") and ``article.updated`` for each
   article that changed story. Articles the online step added to these stories meanwhile stay
   where they are and are counted in. One transaction: a killed refinement leaves the stored
   stories as they were. A run that finds nothing to change writes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import Article, session_scope
from worker.stories.assigner import DEFAULT_CONFIG, StoryConfig
from worker.stories.partition import (
    DEFAULT_REFINE_CONFIG,
    RefineConfig,
    cluster,
    reconcile,
)
from worker.stories.refine_read import read_window
from worker.stories.refine_write import apply_plan, changed_since
from worker.stories.sql import REPORTED_AT
from worker.stories.step import lock_story_step

log = logging.getLogger(__name__)


#: Articles of the live window re-clustered per run, at most (whole stories, newest first).
DEFAULT_REFINE_MAX_ARTICLES = 20_000


@dataclass
class RefineReport:
    """What one refinement did; ``moved`` is its churn (articles that changed story)."""

    articles: int = 0
    stories: int = 0
    moved: int = 0
    split: int = 0
    merged: int = 0
    conflict: bool = False
    new_stories: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # read, cluster, write


def refine_stories(
    sessions: sessionmaker[Session],
    *,
    window: timedelta | None,
    max_articles: int | None = None,
    until: datetime | None = None,
    config: RefineConfig = DEFAULT_REFINE_CONFIG,
    story_config: StoryConfig = DEFAULT_CONFIG,
) -> RefineReport:
    """Re-cluster the stories active within ``window`` before ``until`` (None: the newest
    article's time), at most ``max_articles`` articles (None: ``DEFAULT_REFINE_MAX_ARTICLES``),
    and write the corrections; see the module's docstring.

    ``window`` None: every story (the end of a backfill) — all at once when its articles fit
    in ``max_articles``, else the timeline in windows of that many, each overlapping the one
    before by half; the report adds theirs up."""
    limit = max_articles or DEFAULT_REFINE_MAX_ARTICLES
    if window is not None:
        return _refine(sessions, window, limit, until, config, story_config)
    with session_scope(sessions) as session:
        times = sorted(
            session.scalars(select(REPORTED_AT).where(Article.story_id.is_not(None))).all()
        )
    total = RefineReport()
    step = max(limit // 2, 1)
    for start in range(0, max(len(times) - limit, 0) + 1, step) if times else ():
        first, last = times[start], times[min(start + limit, len(times)) - 1]
        span = last - first + timedelta(seconds=1)
        report = _refine(sessions, span, limit, last, config, story_config)
        total.articles = max(total.articles, report.articles)
        total.stories += report.stories
        total.moved += report.moved
        total.split += report.split
        total.merged += report.merged
        total.conflict = total.conflict or report.conflict
        total.new_stories += report.new_stories
        for part, seconds in report.seconds.items():
            total.seconds[part] = total.seconds.get(part, 0.0) + seconds
    return total


def _refine(
    sessions: sessionmaker[Session],
    window: timedelta,
    max_articles: int,
    until: datetime | None,
    config: RefineConfig,
    story_config: StoryConfig,
) -> RefineReport:
    started = time.perf_counter()
    with session_scope(sessions) as session:
        found = read_window(session, window, max_articles, until, story_config)
    report = RefineReport(articles=len(found.members), stories=len(found.stories))
    report.seconds["read"] = time.perf_counter() - started
    if found.window is None:
        return report
    started = time.perf_counter()
    clusters = cluster(found.window, config)
    plan = reconcile(found.window, clusters, found.stories)
    report.seconds["cluster"] = time.perf_counter() - started
    if not (plan.moves or plan.merged):
        return report
    started = time.perf_counter()
    with session_scope(sessions) as session:
        lock_story_step(session)
        if changed_since(session, found):
            report.conflict = True
            log.info("refinement skipped: the window changed while it was computed")
            return report
        apply_plan(session, found, plan, report, story_config)
    report.seconds["write"] = time.perf_counter() - started
    return report
