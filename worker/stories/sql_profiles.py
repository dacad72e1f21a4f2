"""Layer 4's stories in SQL: story rows, profiles (centroids) and postings, for
``SqlStoryIndex``.

Usage: a part of ``SqlStoryIndex`` (``worker/stories/sql.py``); see ``StoryIndex`` for the
methods. Candidate stories come from the ``story_terms`` postings of an article's heaviest
terms, at most ``DEFAULT_MAX_CANDIDATES`` scored in full; a story's centroid is one JSON value
of ``story_profiles``, its postings the centroid's heaviest terms, written by difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm.attributes import set_committed_value

from models import Article, ChangeKind, Story, StoryMethod
from models.story_state import (
    TERM_CHARS,
    StoryProfile,
    StoryTerm,
)
from worker.stories.index import (
    StoryState,
    posting_terms,
    top_phrases,
)
from worker.stories.sql_batch import BatchState
from worker.stories.sql_writes import int_array, text_array

#: Keywords shown on a story.
DEFAULT_KEYWORDS = 10
_POSTINGS = cast(Table, StoryTerm.__table__)
# Ids for new stories, taken ahead for a batch, and those left over handed back.
_PG_STORY_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('stories', 'id')) FROM generate_series(1, :n)"
)
_PG_RETURN_STORY_IDS = text(
    "SELECT setval(q.seq, :last) FROM CAST(pg_get_serial_sequence('stories', 'id') AS regclass)"
    " AS q(seq) WHERE pg_sequence_last_value(q.seq) = :top"
)
# Each posting's story checked by its primary key (the LATERAL ... OFFSET 0 keeps the planner
# from turning it into a hash join over every story in the window: it cannot tell how few
# postings the rare query terms have, and that hash grows with the stories in the window;
# docs/stories.md has the plans). The stories this batch changed pass whatever their stored
# time: the batch knows their new one and checks it itself.
# The arrays are literals sent untyped and cast once, so the parameters *are* arrays: a
# literal cast from ``text`` is a run-time conversion that a generic plan (psycopg prepares
# a statement it has run a few times) evaluates again for every row it filters — on a young
# table the planner scans, that parsed the query's terms once per posting of the table.
_PG_POSTINGS = text(
    "SELECT t.story_id, t.term, t.weight FROM story_terms AS t"
    " CROSS JOIN LATERAL (SELECT 1 FROM stories AS s WHERE s.id = t.story_id"
    " AND s.merged_into IS NULL"
    " AND (CAST(:since AS timestamptz) IS NULL OR s.last_published_at IS NULL"
    " OR s.last_published_at >= CAST(:since AS timestamptz)"
    " OR s.id = ANY(CAST(:changed AS bigint[]))) OFFSET 0) AS live"
    " WHERE t.term = ANY(CAST(:terms AS varchar[]))"
)
_STORIES_WITH_PROFILES = (
    select(Story, StoryProfile)
    .outerjoin(StoryProfile, StoryProfile.story_id == Story.id)
    .where(Story.id.in_(bindparam("story_ids", expanding=True)))
    .execution_options(populate_existing=True)
)


class StoryProfiles(BatchState):
    """Candidate stories, story state, new stories and merges on ``stories``,
    ``story_profiles`` and ``story_terms``."""

    def candidate_stories(
        self, query: Mapping[str, float], active_since: datetime | None
    ) -> list[StoryState]:
        if not query:
            return []
        terms = [t[:TERM_CHARS] for t in query]
        postings = self._postings(terms, active_since)
        partial: dict[int, float] = {}
        for story_id, term, weight in postings:
            partial[story_id] = partial.get(story_id, 0.0) + weight * query.get(term, 0.0)
        best = sorted(partial, key=lambda s: (-partial[s], s))[: self.max_candidates]
        return self._load(best)

    def _postings(
        self, terms: list[str], active_since: datetime | None
    ) -> list[tuple[int, str, float]]:
        """(story, term, weight) of ``terms`` in live stories, as if nothing were held back."""
        if not self._postgres:
            live: ColumnElement[bool] = Story.merged_into.is_(None)
            if active_since is not None:
                live = and_(
                    live,
                    or_(
                        Story.last_published_at.is_(None),
                        Story.last_published_at >= active_since,
                    ),
                )
            found = self.session.execute(
                select(StoryTerm.story_id, StoryTerm.term, StoryTerm.weight)
                .join(Story, Story.id == StoryTerm.story_id)
                .where(StoryTerm.term.in_(terms), live)
            )
            return [(r[0], r[1], r[2]) for r in found]
        # The table's, less those of changed stories it has out of date, plus those held back.
        changed = self._changed
        rows = self.session.execute(
            _PG_POSTINGS,
            {"terms": text_array(terms), "since": active_since, "changed": int_array(changed)},
        )
        writes = self._writes
        alive: dict[int, bool] = {}  # the changed stories met here: live by their rows now

        def is_live(story_id: int) -> bool:
            found = alive.get(story_id)
            if found is None:
                story = self._rows[story_id]
                last = story.last_published_at
                found = alive[story_id] = bool(
                    story.merged_into is None
                    and (active_since is None or last is None or last >= active_since)
                )
            return found

        postings = [
            (story_id, term, weight)
            for story_id, term, weight in rows
            if story_id not in changed
            or (is_live(story_id) and not writes.is_stale(story_id, term))
        ]
        # Then the rows held back (only changed stories have any), each story's in query order.
        for term in terms:
            for story_id, weight in writes.held_postings(term).items():
                if is_live(story_id):
                    postings.append((story_id, term, weight))
        return postings

    def story(self, story_id: int) -> StoryState:
        wanted, seen = story_id, set()
        while wanted not in seen:  # follow merges to the surviving story
            seen.add(wanted)
            found = self._load([wanted])
            if not found:
                break
            survivor = self._merged_into.get(wanted)
            if survivor is None:
                return found[0]
            wanted = survivor
        raise LookupError(f"story {story_id} does not exist")

    def create_story(self, state: StoryState) -> StoryState:
        values = {
            "headline": state.headline,
            "first_published_at": state.first_published_at,
            "last_published_at": state.last_published_at,
            "article_count": state.article_count,
            "outlet_count": 0,
            "keywords": top_phrases(state.phrases, DEFAULT_KEYWORDS),
            "language": state.language,
        }
        if self._postgres:
            # Its id from the sequence now, its row with the other writes at the next flush.
            row = Story(id=self._new_story_id(), merged_into=None, **values)
            self._writes.new_stories[row.id] = row
        else:
            row = Story(**values)
            self.session.add(row)
            self.session.flush()  # its id
        state.id = row.id
        self._rows[row.id] = row
        self._merged_into[row.id] = None
        self._write_postings(state, frozenset())
        profile = StoryProfile(
            story_id=row.id, phrases=dict(state.phrases), outlets=[], centroid=state.centroid
        )
        # Pending until the next flush: ``attach`` adds the outlet to it first, so the row is
        # written once (Postgres: by this index's flush, with the other writes).
        if self._postgres:
            self._writes.new_profiles[row.id] = profile
            self._changed.add(row.id)
        else:
            self.session.add(profile)
        self._profiles[row.id] = profile
        return state

    def _new_story_id(self) -> int:
        if not self._story_ids:
            # As many as the batch can still create (one per article left), in one round trip;
            # ``finish`` hands back those left over, so ids stay as dense as one per transaction.
            found = self.session.execute(_PG_STORY_IDS, {"n": max(self.articles_left, 1)})
            self._story_ids = sorted((int(r[0]) for r in found), reverse=True)
            self._story_ids_top = self._story_ids[0]
        return self._story_ids.pop()

    def save_story(self, state: StoryState) -> None:
        # Attributes of the row already in the session (loaded with the state): written by the
        # next flush in one UPDATE together with ``attach``'s outlet count.
        self._set(
            self._story_row(state.id),
            first_published_at=state.first_published_at,
            last_published_at=state.last_published_at,
            article_count=state.article_count,
            keywords=top_phrases(state.phrases, DEFAULT_KEYWORDS),
        )
        self._set(
            self._profile(state.id), phrases=dict(state.phrases), centroid=dict(state.centroid)
        )
        held = self._held.get(state.id)
        if held is None:
            self.flush()
            held = frozenset(
                self.session.scalars(select(StoryTerm.term).where(StoryTerm.story_id == state.id))
            )
        self._write_postings(state, held)

    def merge(self, keep: int, gone: int) -> None:
        # The table's rows are changed at once (so for their articles and merged stories no
        # row need be read); the rows this batch holds back, and the objects it has read, are
        # brought up to date here, so that its reads ahead stay valid and nothing is read again.
        # ``synchronize_session=False``: the session's objects are set below, held or not.
        held_articles = {
            article.id: article
            for article in self._changed_articles().values()
            if article.story_id == gone
        }
        stored = self.session.scalars(select(Article.id).where(Article.story_id == gone)).all()
        moved = sorted(set(stored) | held_articles.keys())
        unsynced = {"synchronize_session": False}
        self.session.execute(
            update(Article).where(Article.story_id == gone).values(story_id=keep),
            execution_options=unsynced,
        )
        # Stories merged into ``gone`` earlier now point at the survivor directly.
        self.session.execute(
            update(Story).where(Story.merged_into == gone).values(merged_into=keep),
            execution_options=unsynced,
        )
        self.session.execute(
            delete(StoryTerm).where(StoryTerm.story_id == gone), execution_options=unsynced
        )
        for article in self.session.identity_map.values():
            if isinstance(article, Article) and article.story_id == gone:
                if article.id in held_articles:
                    self._set(article, story_id=keep)
                else:
                    set_committed_value(article, "story_id", keep)
        for story_id, row in list(self._rows.items()):
            if story_id != gone and row.merged_into == gone:
                self._point(row, keep)
        for story_id, survivor in self._merged_into.items():
            if survivor == gone:
                self._merged_into[story_id] = keep
        self._set(self._story_row(gone), merged_into=keep)
        self._merged_into[gone] = keep
        # Its postings are gone from the table: none of those held back may be written.
        self._writes.forget_postings(gone)
        self._held[gone] = frozenset()
        kept, lost = self._profile(keep), self._profile(gone)
        outlets = sorted(set(kept.outlets) | set(lost.outlets))
        self._set(self._story_row(keep), outlet_count=len(outlets))
        self._set(kept, outlets=outlets)
        self.record_change(ChangeKind.STORY_MERGED, gone, merged_into=keep, articles=len(moved))
        for article_id in moved:
            self.record_change(
                ChangeKind.ARTICLE_UPDATED, article_id, story_id=keep, method=StoryMethod.MERGE
            )

    # --- helpers -------------------------------------------------------------------------
    def _point(self, row: Story, survivor: int) -> None:
        """``row``, merged into the story ``merge`` merges away, is merged into ``survivor``:
        the held-back value changes, or (the table's, changed by ``merge`` already) the
        object's only."""
        held = self._postgres and (
            self._writes.is_new(row) or "merged_into" in self._writes.held_values("stories", row.id)
        )
        if held:
            self._set(row, merged_into=survivor)
        else:
            set_committed_value(row, "merged_into", survivor)

    def _load(self, story_ids: Sequence[int]) -> list[StoryState]:
        if not story_ids:
            return []
        unread = [i for i in story_ids if i not in self._rows or i not in self._profiles]
        if unread:
            # Stories and their profiles in one round trip.
            rows = self.session.execute(_STORIES_WITH_PROFILES, {"story_ids": unread}).all()
            for story, profile in rows:
                self._rows[story.id] = story
                self._merged_into[story.id] = story.merged_into
                if profile is not None:
                    self._profiles[story.id] = profile
                    self._held[story.id] = frozenset(_postings(profile.centroid))
        states = []
        for i in story_ids:
            row, held = self._rows.get(i), self._profiles.get(i)
            if row is None:
                continue
            states.append(
                StoryState(
                    id=i,
                    centroid=dict(held.centroid) if held is not None else {},
                    first_published_at=row.first_published_at,
                    last_published_at=row.last_published_at,
                    article_count=row.article_count,
                    headline=row.headline,
                    language=row.language,
                    phrases=dict(held.phrases) if held is not None else {},
                )
            )
        return states

    def _write_postings(self, state: StoryState, held: frozenset[str]) -> None:
        # The postings only say which stories hold a term (their weight, from when the term
        # entered, ranks candidates roughly); the centroid itself is one JSON value. A join
        # changes a few terms of the top K, so this writes a few rows, not K.
        terms = _postings(state.centroid)
        gone = held - terms.keys()
        self._held[state.id] = frozenset(terms)
        added = {t: w for t, w in terms.items() if t not in held}
        if self._postgres:
            if gone or added:  # written by the next flush
                self._writes.postings(state.id, gone, added)
                self._changed.add(state.id)
            return
        if gone:
            self.session.execute(
                delete(StoryTerm).where(StoryTerm.story_id == state.id, StoryTerm.term.in_(gone))
            )
        if added:
            self.session.connection().execute(
                insert(_POSTINGS),
                [{"story_id": state.id, "term": t, "weight": w} for t, w in added.items()],
            )

    def _story_row(self, story_id: int) -> Story:
        row: Story | None = self._rows.get(story_id)
        if row is None:
            row = self.session.get(Story, story_id)
        if row is None:
            raise LookupError(f"story {story_id} does not exist")
        self._rows[story_id] = row
        return row

    def _profile(self, story_id: int) -> StoryProfile:
        profile: StoryProfile | None = self._profiles.get(story_id)
        if profile is None:
            profile = self.session.get(StoryProfile, story_id)
        if profile is None:
            profile = StoryProfile(story_id=story_id, phrases={}, outlets=[], centroid={})
            if self._postgres:
                self._writes.new_profiles[story_id] = profile
            else:
                self.session.add(profile)
        self._profiles[story_id] = profile
        return profile

    def _return_story_ids(self) -> None:
        """At the end of a batch: hand back the story ids taken and not used (Postgres)."""
        if self._story_ids:
            # Under the story-step lock nobody else takes ids (only this step creates stories):
            # the sequence goes back to the last id used, unless it moved on meanwhile.
            self.session.execute(
                _PG_RETURN_STORY_IDS,
                {"last": self._story_ids[-1] - 1, "top": self._story_ids_top},
            )
            self._story_ids = []


def _postings(centroid: Mapping[str, float]) -> dict[str, float]:
    """The (term, weight) rows ``story_terms`` holds for a story with this centroid."""
    return {t[:TERM_CHARS]: w for t, w in posting_terms(centroid).items()}
