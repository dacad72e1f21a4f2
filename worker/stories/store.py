"""The story step on the database: ``assign_story(session, article_id)``.

Usage (inside the caller's transaction; it commits or rolls back everything together)::

    with session_scope(sessions) as session:
        result = assign_story(session, article_id)   # None when there is nothing to assign
        result.story_id, result.duplicate_of, result.new_story, result.merged

It reads the article row, runs layers 2-4 (``worker.stories.assigner.assign``) against
``SqlStoryIndex`` — the same code path as the in-memory index, with its state in the tables of
``models/stories_index.py`` — sets ``articles.story_id`` / ``duplicate_of``, creates or updates
the ``stories`` row, and writes the outbox rows ``story.created``, ``story.updated``,
``story.merged`` and ``article.updated`` in the same transaction.

Serialized: it takes the story-step lock first (a Postgres transaction-scoped advisory lock;
SQLite's ``BEGIN IMMEDIATE`` already serializes writers), so two workers never open two stories
for one event. Idempotent: an article that already has a story is left as it is, so a
redelivered task changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
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
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models import Article, ArticleStatus, Change, Story
from models.stories_index import (
    TERM_CHARS,
    ArticleBand,
    ArticleSketch,
    StoryProfile,
    StoryTerm,
    TermStat,
)
from models.types import utcnow
from worker.dedupe.minhash import Sketch
from worker.store import record_change
from worker.store.changes import change_payload
from worker.stories.assigner import DEFAULT_CONFIG, Assignment, StoryConfig, assign
from worker.stories.index import ArticleRef, StoredSketch, StoryDoc, StoryState, top_phrases
from worker.urls import host_of

#: Key of the Postgres advisory lock that serializes the story step (the same in every worker).
STORY_LOCK_KEY = 0x5707_1E5
#: Candidate stories scored in full per article: the best by partial dot product on the
#: article's heaviest terms. Bounds the work when a common term is in many live stories.
DEFAULT_MAX_CANDIDATES = 50
#: Keywords shown on a story.
DEFAULT_KEYWORDS = 10
# Row in term_stats that counts documents (no real term is empty).
_DOCUMENTS = ""


_BANDS = cast(Table, ArticleBand.__table__)
_SKETCHES = cast(Table, ArticleSketch.__table__)
_POSTINGS = cast(Table, StoryTerm.__table__)
_TERM_STATS = cast(Table, TermStat.__table__)
_PROFILES = cast(Table, StoryProfile.__table__)
_CHANGES = cast(Table, Change.__table__)
_TABLES = {
    t.name: t for t in (cast(Table, Story.__table__), cast(Table, Article.__table__), _PROFILES)
}


def _upsert_df() -> Executable:
    table = _TERM_STATS
    stmt = sqlite.insert(table).values(term=bindparam("term"), df=1)
    return stmt.on_conflict_do_update(index_elements=[table.c.term], set_={"df": table.c.df + 1})


# Sorted input: concurrent writers (should the lock ever be bypassed) take row locks in one order.
_PG_COUNT_TERMS = text(
    "INSERT INTO term_stats (term, df) "
    "SELECT t, 1 FROM unnest(CAST(:terms AS varchar[])) AS t ORDER BY t "
    "ON CONFLICT (term) DO UPDATE SET df = term_stats.df + 1 "
    "RETURNING term, df"
)


# Postgres: the sketch and its band rows in one round trip (arrays as parameters; the foreign
# keys point at articles, so the two inserts need no order between them).
_PG_SKETCH_WRITES = (
    "INSERT INTO article_sketches (article_id, signature, shingles, published_at)"
    " VALUES (:article_id, :signature, :shingles, :published_at)",
    "INSERT INTO article_bands (band_key, article_id)"
    " SELECT k, :article_id FROM unnest(CAST(:keys AS bigint[])) AS k",
)
_PG_SKETCH_CTE = f"WITH sketch AS ({_PG_SKETCH_WRITES[0]}), bands AS ({_PG_SKETCH_WRITES[1]}) "
# ... and, as layer 4 always follows a new sketch, usually together with the term counts.
_PG_ADD_SKETCH_COUNT_TERMS = text(_PG_SKETCH_CTE + _PG_COUNT_TERMS.text).bindparams(
    bindparam("published_at", type_=ArticleSketch.__table__.c.published_at.type)
)

# Postgres: the terms as one array parameter — one statement text whatever their number, so
# psycopg prepares it once (an expanding IN is a new text for every length).
# Each posting's story checked by its primary key (the LATERAL ... OFFSET 0 keeps the planner
# from turning it into a hash join over every story in the window: it cannot tell how few
# postings the rare query terms have, and that hash grows with the stories in the window —
# 7.2 -> 1.7 ms per query on the 100k bench store, same rows).
_PG_POSTINGS = text(
    "SELECT t.story_id, t.term, t.weight FROM story_terms AS t"
    " CROSS JOIN LATERAL (SELECT 1 FROM stories AS s WHERE s.id = t.story_id"
    " AND s.merged_into IS NULL"
    " AND (CAST(:since AS timestamptz) IS NULL OR s.last_published_at IS NULL"
    " OR s.last_published_at >= CAST(:since AS timestamptz)) OFFSET 0) AS live"
    " WHERE t.term = ANY(CAST(:terms AS varchar[]))"
)
_PG_NEAR = text(
    "SELECT k.article_id, k.signature, k.shingles, k.published_at FROM article_sketches AS k"
    " WHERE k.article_id IN (SELECT b.article_id FROM article_bands AS b"
    " WHERE b.band_key = ANY(CAST(:keys AS bigint[])))"
    " ORDER BY k.article_id"
).columns(published_at=ArticleSketch.__table__.c.published_at.type)


# Statements built once (each build costs more Python than the cached compilation it hits).
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_ARTICLE_REF = (Article.id, Article.story_id, Article.duplicate_of, Article.published_at)
_ARTICLE_BY_ID = select(*_ARTICLE_REF).where(Article.id == bindparam("article_id"))
_ARTICLE_BY_HASH = (
    select(*_ARTICLE_REF)
    .where(
        Article.content_hash == bindparam("digest"),
        Article.duplicate_of.is_(None),
        Article.story_id.is_not(None),
    )
    .order_by(Article.published_at.is_(None), Article.published_at, Article.id)
    .limit(1)
)
_STORIES_WITH_PROFILES = (
    select(Story, StoryProfile)
    .outerjoin(StoryProfile, StoryProfile.story_id == Story.id)
    .where(Story.id.in_(bindparam("story_ids", expanding=True)))
    .execution_options(populate_existing=True)
)


def lock_story_step(session: Session) -> None:
    """Hold the story-step lock until the session's transaction ends (Postgres only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"key": STORY_LOCK_KEY})


def assign_story(
    session: Session, article_id: int, config: StoryConfig = DEFAULT_CONFIG
) -> Assignment | None:
    """Assign an extracted article to a story; None if it is missing or not extracted yet."""
    lock_story_step(session)
    article = session.get(Article, article_id)
    if article is None or article.status == ArticleStatus.PENDING:
        return None
    if article.story_id is not None:  # already done (a redelivered task)
        return Assignment(article.story_id, article.duplicate_of, False, (), "done", 0.0)
    index = SqlStoryIndex(session)
    if article.duplicate_of is not None:
        # An exact copy marked by the text-hash step: it joins its original's story.
        original = session.get(Article, article.duplicate_of)
        if original is not None and original.story_id is None:
            assign_story(session, original.id, config)
        if original is not None and original.story_id is not None:
            result = index.join_copy(_doc(article), original)
            _record(index, article, result)
            index.flush()
            return result
    result = assign(index, _doc(article), config)
    _record(index, article, result)
    index.flush()
    return result


def _doc(article: Article) -> StoryDoc:
    return StoryDoc(
        id=article.id,
        title=article.title,
        text=article.text or article.summary,
        # The time the event was reported; when the page gave no date, when we saw it.
        published_at=article.published_at or article.fetched_at or article.discovered_at,
        language=article.language,
        outlet=article.site_name or host_of(article.canonical_url) or None,
    )


def _record(index: SqlStoryIndex, article: Article, result: Assignment) -> None:
    if result.new_story:
        index.record_change("story.created", result.story_id, article_id=article.id)
    else:
        index.record_change(
            "story.updated", result.story_id, article_id=article.id, method=result.method
        )
    _record_article(index, article.id, result.story_id, result.duplicate_of, result.method)


def _record_article(
    index: SqlStoryIndex,
    article_id: int,
    story_id: int | None,
    duplicate_of: int | None,
    method: str,
) -> None:
    """``article.updated`` with the article's story, plus ``article.duplicate`` for a copy."""
    facts = {"story_id": story_id, "duplicate_of": duplicate_of, "method": method}
    index.record_change("article.updated", article_id, **facts)
    if duplicate_of is not None:
        # Its own kind too: consumers that only care about copies subscribe to this one.
        index.record_change("article.duplicate", article_id, **facts)


class SqlStoryIndex:
    """A ``StoryIndex`` on the tables of ``models/stories_index.py`` (plus stories/articles)."""

    def __init__(self, session: Session, *, max_candidates: int = DEFAULT_MAX_CANDIDATES) -> None:
        self.session = session
        self.max_candidates = max_candidates
        self._postgres = session.get_bind().dialect.name == "postgresql"
        # Within this one assignment (one transaction, under the story-step lock): the
        # profiles created or loaded, and the posting terms each story holds — the stored
        # centroid's terms, which ``_write_postings`` keeps equal — so neither is read twice.
        self._profiles: dict[int, StoryProfile] = {}
        self._held: dict[int, frozenset[str]] = {}
        self._merged_into: dict[int, int | None] = {}
        # Strong references: the session's identity map holds unmodified rows only weakly,
        # so without these a story loaded for scoring would be read again to be updated.
        self._rows: dict[int, Story] = {}
        # Postgres: writes are held back and go out together, in one statement (data-modifying
        # CTEs), just before the next statement of this index or at ``flush``: a new sketch
        # (usually with layer 4's term counts, asked for right after it), and a story's rows,
        # the article row, the postings and the outbox rows that an assignment ends with. The
        # ORM objects get the new values at once (as committed values: the ORM writes none of
        # them again), so a read through them sees what the database will hold.
        self._sketch: dict[str, object] | None = None
        self._updates: dict[tuple[str, int], tuple[object, dict[str, Any]]] = {}
        self._new_profiles: dict[int, StoryProfile] = {}
        self._postings: list[tuple[int, list[str], list[tuple[str, float]]]] = []
        self._changes: list[dict[str, Any]] = []

    def flush(self) -> None:
        """Write what is still held back (Postgres); ``assign_story`` calls it at the end."""
        if not self._postgres:
            return
        writes: list[str] = []
        params: dict[str, Any] = {}
        types: dict[str, Any] = {}
        if self._sketch is not None:
            writes.extend(_PG_SKETCH_WRITES)
            params.update(self._sketch)
            types["published_at"] = _SKETCHES.c.published_at.type
            self._sketch = None
        now = utcnow()
        for n, ((table_name, key), (_obj, values)) in enumerate(self._updates.items()):
            table = _TABLES[table_name]
            if "updated_at" in table.c:
                values = {**values, "updated_at": now}
            sets = []
            for column, value in values.items():
                name = f"u{n}_{column}"
                sets.append(f"{column} = :{name}")
                params[name], types[name] = value, table.c[column].type
            pk = table.primary_key.columns.values()[0].name
            params[f"u{n}_key"] = key
            # Names from the tables' metadata, values as parameters (so for S608 below).
            writes.append(f"UPDATE {table_name} SET {', '.join(sets)} WHERE {pk} = :u{n}_key")  # noqa: S608
        for n, profile in enumerate(self._new_profiles.values()):
            for column in ("story_id", "phrases", "outlets", "centroid"):
                params[f"p{n}_{column}"] = getattr(profile, column)
                types[f"p{n}_{column}"] = _PROFILES.c[column].type
            writes.append(
                "INSERT INTO story_profiles (story_id, phrases, outlets, centroid) VALUES"  # noqa: S608
                f" (:p{n}_story_id, :p{n}_phrases, :p{n}_outlets, :p{n}_centroid)"
            )
        for n, (story_id, gone, added) in enumerate(self._postings):
            params[f"t{n}_story"] = story_id
            if gone:
                params[f"t{n}_gone"] = gone
                writes.append(
                    f"DELETE FROM story_terms WHERE story_id = :t{n}_story"  # noqa: S608
                    f" AND term = ANY(CAST(:t{n}_gone AS varchar[]))"
                )
            if added:
                params[f"t{n}_terms"] = [t for t, _ in added]
                params[f"t{n}_weights"] = [w for _, w in added]
                writes.append(
                    f"INSERT INTO story_terms (story_id, term, weight) SELECT :t{n}_story, t, w"  # noqa: S608
                    f" FROM unnest(CAST(:t{n}_terms AS varchar[]),"
                    f" CAST(:t{n}_weights AS float8[])) AS u(t, w)"
                )
        if self._changes:
            rows = []
            for n, change in enumerate(self._changes):
                for column, value in (*change.items(), ("created_at", now)):
                    params[f"c{n}_{column}"] = value
                    types[f"c{n}_{column}"] = _CHANGES.c[column].type
                rows.append(f"(:c{n}_kind, :c{n}_entity_id, :c{n}_payload, :c{n}_created_at)")
            # In the order recorded: ids are handed out in row order, then kept (0002).
            writes.append(
                "INSERT INTO changes (kind, entity_id, payload, created_at) VALUES "  # noqa: S608
                + ", ".join(rows)
            )
        self._updates.clear()
        self._new_profiles.clear()
        self._postings.clear()
        self._changes.clear()
        if not writes:
            return
        if len(writes) == 1:
            sql = writes[0]
        else:
            sql = "WITH " + ", ".join(f"w{i} AS ({w})" for i, w in enumerate(writes[1:]))
            sql += " " + writes[0]
        stmt = text(sql).bindparams(*(bindparam(k, type_=t) for k, t in types.items()))
        self.session.execute(stmt, params)

    def record_change(self, kind: str, entity_id: int, **payload: Any) -> None:
        """``worker.store.record_change``, held back with the other writes on Postgres."""
        if self._postgres and not any(isinstance(o, Change) for o in self.session.new):
            self._changes.append(
                {
                    "kind": kind,
                    "entity_id": entity_id,
                    "payload": change_payload(**payload),
                }
            )
        else:  # after outbox rows the ORM will write: after them, in the order recorded
            record_change(self.session, kind, entity_id, **payload)

    def _set(self, row: object, **values: Any) -> None:
        """Change attributes of a loaded row: now on the object, written by the next flush."""
        if not self._postgres:
            for name, value in values.items():
                setattr(row, name, value)
            return
        if isinstance(row, StoryProfile) and row.story_id in self._new_profiles:
            for name, value in values.items():
                setattr(row, name, value)  # not in the session: inserted whole by flush
            return
        for name, value in values.items():
            set_committed_value(row, name, value)
        table = cast(Table, type(row).__table__)  # type: ignore[attr-defined]
        key = int(getattr(row, table.primary_key.columns.values()[0].name))
        self._updates.setdefault((table.name, key), (row, {}))[1].update(values)

    def _rows_pending(self) -> bool:
        """Held-back writes other than the sketch (which may ride on the term-count upsert)."""
        return bool(self._updates or self._new_profiles or self._postings or self._changes)

    def _writes_pending(self) -> bool:
        return self._sketch is not None or self._rows_pending()

    def _before_statement(self) -> None:
        # Reads see every write before them, as if each had been executed when made.
        if self._writes_pending():
            self.flush()

    # --- articles ------------------------------------------------------------------------
    def article(self, article_id: int) -> ArticleRef | None:
        self._before_statement()
        row = self.session.execute(_ARTICLE_BY_ID, {"article_id": article_id}).first()
        return None if row is None else ArticleRef(row[0], row[1], row[2], row[3])

    def find_by_hash(self, digest: str) -> ArticleRef | None:
        self._before_statement()
        row = self.session.execute(_ARTICLE_BY_HASH, {"digest": digest}).first()
        return None if row is None else ArticleRef(row[0], row[1], row[2], row[3])

    def attach(
        self, doc: StoryDoc, story_id: int, duplicate_of: int | None, digest: str | None
    ) -> None:
        article = self.session.get(Article, doc.id)  # in the session: assign_story read it
        if article is None:
            raise LookupError(f"article {doc.id} does not exist")
        if digest is not None:
            self._set(article, story_id=story_id, duplicate_of=duplicate_of, content_hash=digest)
        else:
            self._set(article, story_id=story_id, duplicate_of=duplicate_of)
        if doc.outlet:
            profile = self._profile(story_id)
            if doc.outlet not in profile.outlets:
                outlets = [*profile.outlets, doc.outlet]
                self._set(profile, outlets=outlets)
                self._set(self._story_row(story_id), outlet_count=len(outlets))

    def adopt_copies(self, original: int, former: int) -> None:
        self._before_statement()
        moved = self.session.scalars(
            select(Article).where(or_(Article.id == former, Article.duplicate_of == former))
        ).all()
        for article in moved:
            self._set(article, duplicate_of=original)
            _record_article(self, article.id, article.story_id, original, "earlier original")

    def join_copy(self, doc: StoryDoc, original: Article) -> Assignment:
        """Attach an exact copy (already marked by the text-hash step) to its original's story."""
        assert original.story_id is not None
        story = self.story(original.story_id)
        story.article_count += 1
        if doc.published_at is not None:
            if story.first_published_at is None or doc.published_at < story.first_published_at:
                story.first_published_at = doc.published_at
            if story.last_published_at is None or doc.published_at > story.last_published_at:
                story.last_published_at = doc.published_at
        self.save_story(story)
        self.attach(doc, story.id, original.id, None)
        return Assignment(story.id, original.id, False, (), "exact", 1.0)

    # --- layer 3 -------------------------------------------------------------------------
    def near_candidates(self, band_keys: Sequence[int]) -> list[StoredSketch]:
        self._before_statement()
        if self._postgres:
            found = self.session.execute(_PG_NEAR, {"keys": list(band_keys)}).all()
            return [StoredSketch(r[0], Sketch.from_bytes(r[1], r[2]), r[3]) for r in found]
        ids = select(ArticleBand.article_id).where(ArticleBand.band_key.in_(list(band_keys)))
        rows = self.session.scalars(
            select(ArticleSketch)
            .where(ArticleSketch.article_id.in_(ids))
            .order_by(ArticleSketch.article_id)
        ).all()
        return [
            StoredSketch(r.article_id, Sketch.from_bytes(r.signature, r.shingles), r.published_at)
            for r in rows
        ]

    def add_sketch(
        self,
        article_id: int,
        sketch: Sketch,
        band_keys: Sequence[int],
        published_at: datetime | None,
    ) -> None:
        row = {
            "article_id": article_id,
            "signature": sketch.to_bytes(),
            "shingles": sketch.shingles,
            "published_at": published_at,
        }
        keys = sorted(set(band_keys))
        if self._postgres:
            if self._sketch is not None:  # one held back at a time
                self.flush()
            self._sketch = {**row, "keys": keys}
            return
        connection = self.session.connection()
        connection.execute(insert(_SKETCHES), row)
        connection.execute(
            insert(_BANDS), [{"band_key": k, "article_id": article_id} for k in keys]
        )

    # --- layer 4 -------------------------------------------------------------------------
    def count_document(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        wanted = sorted({t[:TERM_CHARS] for t in terms} | {_DOCUMENTS})
        if self._postgres:
            # One round trip: the terms as one array parameter, counts returned (and the
            # sketch ``add_sketch`` held back, if any).
            if self._rows_pending():
                self.flush()
            if self._sketch is not None:
                params, self._sketch = self._sketch, None
                rows = self.session.execute(
                    _PG_ADD_SKETCH_COUNT_TERMS, {**params, "terms": wanted}
                ).all()
            else:
                rows = self.session.execute(_PG_COUNT_TERMS, {"terms": wanted}).all()
        else:
            # One statement text whatever the number of terms (an executemany and an expanding
            # IN), so it is compiled once per process, not once per article.
            self.session.connection().execute(_upsert_df(), [{"term": t} for t in wanted])
            rows = self.session.execute(
                select(TermStat.term, TermStat.df).where(TermStat.term.in_(wanted))
            ).all()
        df = {term: int(count) for term, count in rows}
        return df.pop(_DOCUMENTS), df

    def candidate_stories(
        self, query: Mapping[str, float], active_since: datetime | None
    ) -> list[StoryState]:
        if not query:
            return []
        terms = [t[:TERM_CHARS] for t in query]
        self._before_statement()
        if self._postgres:
            postings = self.session.execute(
                _PG_POSTINGS, {"terms": terms, "since": active_since}
            ).all()
        else:
            live: ColumnElement[bool] = Story.merged_into.is_(None)
            if active_since is not None:
                live = and_(
                    live,
                    or_(
                        Story.last_published_at.is_(None),
                        Story.last_published_at >= active_since,
                    ),
                )
            postings = self.session.execute(
                select(StoryTerm.story_id, StoryTerm.term, StoryTerm.weight)
                .join(Story, Story.id == StoryTerm.story_id)
                .where(StoryTerm.term.in_(terms), live)
            ).all()
        partial: dict[int, float] = {}
        for story_id, term, weight in postings:
            partial[story_id] = partial.get(story_id, 0.0) + weight * query.get(term, 0.0)
        best = sorted(partial, key=lambda s: (-partial[s], s))[: self.max_candidates]
        return self._load(best)

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
        row = Story(
            headline=state.headline,
            first_published_at=state.first_published_at,
            last_published_at=state.last_published_at,
            article_count=state.article_count,
            outlet_count=0,
            keywords=top_phrases(state.phrases, DEFAULT_KEYWORDS),
            language=state.language,
        )
        self._before_statement()
        self.session.add(row)
        self.session.flush()
        state.id = row.id
        self._rows[row.id] = row
        self._write_postings(state, frozenset())
        profile = StoryProfile(
            story_id=row.id, phrases=dict(state.phrases), outlets=[], centroid=state.centroid
        )
        # Pending until the next flush: ``attach`` adds the outlet to it first, so the row is
        # written once (Postgres: by this index's flush, with the other writes).
        if self._postgres:
            self._new_profiles[row.id] = profile
        else:
            self.session.add(profile)
        self._profiles[row.id] = profile
        return state

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
            self._before_statement()
            held = frozenset(
                self.session.scalars(select(StoryTerm.term).where(StoryTerm.story_id == state.id))
            )
        self._write_postings(state, held)

    def merge(self, keep: int, gone: int) -> None:
        self._before_statement()
        moved = self.session.scalars(select(Article.id).where(Article.story_id == gone)).all()
        self.session.execute(update(Article).where(Article.story_id == gone).values(story_id=keep))
        self.session.execute(update(Story).where(Story.id == gone).values(merged_into=keep))
        # Stories merged into ``gone`` earlier now point at the survivor directly.
        self.session.execute(
            update(Story).where(Story.merged_into == gone).values(merged_into=keep)
        )
        self.session.execute(delete(StoryTerm).where(StoryTerm.story_id == gone))
        self._held[gone] = frozenset()
        kept, lost = self._profile(keep), self._profile(gone)
        outlets = sorted(set(kept.outlets) | set(lost.outlets))
        self._before_statement()
        self.session.execute(
            update(Story).where(Story.id == keep).values(outlet_count=len(outlets))
        )
        self._set(kept, outlets=outlets)
        self.record_change("story.merged", gone, merged_into=keep, articles=len(moved))
        for article_id in moved:
            self.record_change("article.updated", article_id, story_id=keep, method="merge")

    # --- helpers -------------------------------------------------------------------------
    def _load(self, story_ids: Sequence[int]) -> list[StoryState]:
        if not story_ids:
            return []
        self._before_statement()
        # Stories and their profiles in one round trip.
        rows = self.session.execute(_STORIES_WITH_PROFILES, {"story_ids": list(story_ids)}).all()
        stories = {story.id: story for story, _ in rows}
        self._rows.update(stories)
        self._merged_into.update((story.id, story.merged_into) for story, _ in rows)
        profiles = {story.id: profile for story, profile in rows if profile is not None}
        for story_id, profile in profiles.items():
            self._profiles[story_id] = profile
            self._held[story_id] = frozenset(t[:TERM_CHARS] for t in profile.centroid)
        return [
            StoryState(
                id=i,
                centroid=dict(profiles[i].centroid) if i in profiles else {},
                first_published_at=stories[i].first_published_at,
                last_published_at=stories[i].last_published_at,
                article_count=stories[i].article_count,
                headline=stories[i].headline,
                language=stories[i].language,
                phrases=dict(profiles[i].phrases) if i in profiles else {},
            )
            for i in story_ids
            if i in stories
        ]

    def _write_postings(self, state: StoryState, held: frozenset[str]) -> None:
        # The postings only say which stories hold a term (their weight, from when the term
        # entered, ranks candidates roughly); the centroid itself is one JSON value. A join
        # changes a few terms of the top K, so this writes a few rows, not K.
        terms = {t[:TERM_CHARS]: w for t, w in state.centroid.items()}
        gone = held - terms.keys()
        self._held[state.id] = frozenset(terms)
        added = [(t, w) for t, w in terms.items() if t not in held]
        if self._postgres:
            if gone or added:  # written by the next flush (the two sets never share a term)
                self._postings.append((state.id, sorted(gone), added))
            return
        if gone:
            self.session.execute(
                delete(StoryTerm).where(StoryTerm.story_id == state.id, StoryTerm.term.in_(gone))
            )
        if added:
            self.session.connection().execute(
                insert(_POSTINGS),
                [{"story_id": state.id, "term": t, "weight": w} for t, w in added],
            )

    def _story_row(self, story_id: int) -> Story:
        row = self._rows.get(story_id)
        if row is None:
            self._before_statement()
            row = self.session.get(Story, story_id)
        if row is None:
            raise LookupError(f"story {story_id} does not exist")
        return row

    def _profile(self, story_id: int) -> StoryProfile:
        profile = self._profiles.get(story_id)
        if profile is None:
            self._before_statement()
            profile = self.session.get(StoryProfile, story_id)
        if profile is None:
            profile = StoryProfile(story_id=story_id, phrases={}, outlets=[], centroid={})
            if self._postgres:
                self._new_profiles[story_id] = profile
            else:
                self.session.add(profile)
        self._profiles[story_id] = profile
        return profile
