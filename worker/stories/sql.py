"""The story step's state in SQL: ``SqlStoryIndex``, the ``StoryIndex`` of the worker.

Usage (``worker.stories.store`` does this for each batch, under the story-step lock)::

    index = SqlStoryIndex(session)
    index.read_ahead([features(doc, with_terms=True) for doc in docs])   # Postgres, batches
    result = assign(index, doc, config, found)      # worker.stories.assigner, per article
    index.finish()                                  # the held-back writes, one statement

Every lookup is by key or through an index (content hash, LSH band keys, term postings,
story ids), never a scan of all stories or articles. On Postgres the writes of a batch are
held back (``worker.stories.deferred``) and its reads answer from the tables plus what is
held back, so a batch sees exactly what one transaction per article would have seen. The
tables are those of ``models/stories_index.py`` plus ``stories`` and ``articles``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
    Table,
    and_,
    bindparam,
    delete,
    func,
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
from models.types import UTCDateTime
from worker.dedupe.minhash import Sketch
from worker.store import record_change
from worker.store.changes import change_payload
from worker.stories.assigner import Assignment, Features, count_article
from worker.stories.counts import KEPT_COUNTS
from worker.stories.deferred import DeferredWrites, int_array, text_array
from worker.stories.index import (
    ArticleRef,
    StoredSketch,
    StoryDoc,
    StoryState,
    posting_terms,
    top_phrases,
)

log = logging.getLogger(__name__)

#: Candidate stories scored in full per article: the best by partial dot product on the
#: article's heaviest terms. Bounds the work when a common term is in many live stories.
DEFAULT_MAX_CANDIDATES = 50
#: Terms whose document counts one statement reads (a batch of 32 articles has ~4000):
#: past ~5000 on the 100k bench store the planner stops probing the primary key per term.
DEFAULT_TERM_CHUNK = 2000
#: Keywords shown on a story.
DEFAULT_KEYWORDS = 10
# Row in term_stats that counts documents (no real term is empty).
_DOCUMENTS = ""


_BANDS = cast(Table, ArticleBand.__table__)
_SKETCHES = cast(Table, ArticleSketch.__table__)
_POSTINGS = cast(Table, StoryTerm.__table__)
_TERM_STATS = cast(Table, TermStat.__table__)


def _upsert_df() -> Executable:
    table = _TERM_STATS
    stmt = sqlite.insert(table).values(term=bindparam("term"), df=1)
    return stmt.on_conflict_do_update(index_elements=[table.c.term], set_={"df": table.c.df + 1})


# Postgres: arrays as parameters — one statement text whatever their length, so psycopg
# prepares it once (an expanding IN is a new text for every length).
# A join with the unnested array, not ``term = ANY(:terms)``: for an array of a few thousand
# terms the planner turns ANY into a sequential scan of the table (56 ms on the 100k bench
# store), while the join probes the primary key per term (~3 us each: 11.6 ms for 4000; for
# one article's ~130, 0.4 ms against 1.2 for ANY's bitmap scan). Past ~5000 terms the join
# becomes a hash join over the table too: reads are cut into chunks of DEFAULT_TERM_CHUNK.
_PG_TERM_COUNTS = text(
    "SELECT s.term, s.df FROM unnest(CAST(CAST(:terms AS text) AS varchar[])) AS t(term)"
    " JOIN term_stats AS s ON s.term = t.term"
)
# The token the last write of term_stats left (alembic 0010): the kept counts are the table's
# while it is the one they were kept with.
_PG_COUNTS_TOKEN = text("SELECT token FROM term_stats_version WHERE id = 1")
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
# postings the rare query terms have, and that hash grows with the stories in the window —
# 7.2 -> 1.7 ms per query on the 100k bench store, same rows). The stories this batch changed
# pass whatever their stored time: the batch knows their new one and checks it itself.
_PG_POSTINGS = text(
    "SELECT t.story_id, t.term, t.weight FROM story_terms AS t"
    " CROSS JOIN LATERAL (SELECT 1 FROM stories AS s WHERE s.id = t.story_id"
    " AND s.merged_into IS NULL"
    " AND (CAST(:since AS timestamptz) IS NULL OR s.last_published_at IS NULL"
    " OR s.last_published_at >= CAST(:since AS timestamptz)"
    " OR s.id = ANY(CAST(CAST(:changed AS text) AS bigint[]))) OFFSET 0) AS live"
    " WHERE t.term = ANY(CAST(CAST(:terms AS text) AS varchar[]))"
)
_PG_NEAR = text(
    "SELECT k.article_id, k.signature, k.shingles, k.published_at FROM article_sketches AS k"
    " WHERE k.article_id IN (SELECT b.article_id FROM article_bands AS b"
    " WHERE b.band_key = ANY(CAST(:keys AS bigint[])))"
    " ORDER BY k.article_id"
).columns(published_at=ArticleSketch.__table__.c.published_at.type)
# Articles this batch changed are left out: their held-back values decide (``find_by_hash``).
# An article's time is when it was reported, as ``_doc`` dates it (COALESCE below): an undated
# copy is ordered by when it was fetched, like the article it is compared with.
_PG_ARTICLE_BY_HASH = text(
    "SELECT id, story_id, duplicate_of,"
    " COALESCE(published_at, fetched_at, discovered_at) AS published_at FROM articles"
    " WHERE content_hash = :digest AND duplicate_of IS NULL AND story_id IS NOT NULL"
    " AND status = 'ok'"
    " AND NOT (id = ANY(CAST(:changed AS bigint[])))"
    " ORDER BY 4, id LIMIT 1"
).columns(published_at=Article.__table__.c.published_at.type)

# Read ahead for a batch (``SqlStoryIndex.read_ahead``): the same lookups for all its articles.
_PG_ARTICLES_BY_HASHES = text(
    "SELECT DISTINCT ON (content_hash) content_hash, id, story_id, duplicate_of,"
    " COALESCE(published_at, fetched_at, discovered_at) AS published_at"
    " FROM articles WHERE content_hash = ANY(CAST(:digests AS varchar[])) AND status = 'ok'"
    " AND duplicate_of IS NULL AND story_id IS NOT NULL"
    " ORDER BY content_hash, 5, id"
).columns(published_at=Article.__table__.c.published_at.type)
_PG_NEAR_BY_KEYS = text(
    "SELECT b.band_key, k.article_id, k.signature, k.shingles, k.published_at"
    " FROM article_bands AS b JOIN article_sketches AS k ON k.article_id = b.article_id"
    " WHERE b.band_key = ANY(CAST(CAST(:keys AS text) AS bigint[]))"
).columns(published_at=ArticleSketch.__table__.c.published_at.type)


# When an article reached the story step, for the order of a batch and of copies (as
# ``reported_at`` dates a row object).
REPORTED_AT = func.coalesce(
    Article.published_at, Article.fetched_at, Article.discovered_at, type_=UTCDateTime
)
# Statements built once (each build costs more Python than the cached compilation it hits).
_ARTICLE_REF = (Article.id, Article.story_id, Article.duplicate_of, REPORTED_AT)
_ARTICLE_BY_ID = select(*_ARTICLE_REF).where(Article.id == bindparam("article_id"))
_ARTICLE_BY_HASH = (
    select(*_ARTICLE_REF)
    .where(
        Article.content_hash == bindparam("digest"),
        # Only extracted pages: a failed one's hash is of the feed's summary.
        Article.status == ArticleStatus.OK,
        Article.duplicate_of.is_(None),
        Article.story_id.is_not(None),
    )
    .order_by(REPORTED_AT, Article.id)
    .limit(1)
)
_STORIES_WITH_PROFILES = (
    select(Story, StoryProfile)
    .outerjoin(StoryProfile, StoryProfile.story_id == Story.id)
    .where(Story.id.in_(bindparam("story_ids", expanding=True)))
    .execution_options(populate_existing=True)
)


class Dated(Protocol):
    """What ``reported_at`` reads: an ``Article``, or a row with these columns."""

    @property
    def published_at(self) -> datetime | None: ...

    @property
    def fetched_at(self) -> datetime | None: ...

    @property
    def discovered_at(self) -> datetime | None: ...


def reported_at(article: Dated) -> datetime | None:
    # The time the event was reported; when the page gave no date, when we saw it (as
    # ``REPORTED_AT`` in SQL).
    return article.published_at or article.fetched_at or article.discovered_at


def record_article(
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
    """A ``StoryIndex`` on the tables of ``models/stories_index.py`` (plus stories/articles).

    One per transaction (a batch of assignments, under the story-step lock): what it has read
    stays valid for the transaction, since no other worker writes these tables meanwhile."""

    def __init__(self, session: Session, *, max_candidates: int = DEFAULT_MAX_CANDIDATES) -> None:
        self.session = session
        self.max_candidates = max_candidates
        self._postgres = session.get_bind().dialect.name == "postgresql"
        # Read or created in this transaction: story rows and profiles, and the posting terms
        # each story holds — the stored centroid's heaviest terms (``posting_terms``), which
        # ``_write_postings`` keeps equal — so none is read twice. Strong references: the
        # session's identity map holds unmodified rows only weakly.
        self._rows: dict[int, Story] = {}
        self._profiles: dict[int, StoryProfile] = {}
        self._held: dict[int, frozenset[str]] = {}
        self._merged_into: dict[int, int | None] = {}
        # Postgres: the writes held back until ``flush`` (the ORM objects get the new values at
        # once, as committed values, so a read through them sees what the database will
        # hold), and what the reads need to answer as if they had been written: the stories
        # changed since, the sketches by band key, the document frequencies.
        self._writes = DeferredWrites()
        self._changed: set[int] = set()
        self._bands: dict[int, list[StoredSketch]] = {}
        self._df: dict[str, int] = {}
        # Story ids taken from the sequence and not used yet (Postgres; the last is used first),
        # the highest of them, and how many articles of the batch are left (``assign_stories``).
        self._story_ids: list[int] = []
        self._story_ids_top = 0
        self.articles_left = 1
        # Whether the counts this process kept from its last batch were checked against the
        # table's token yet (once per transaction, before the first count is taken from them).
        self._kept_checked = False
        # Read ahead for a batch (Postgres): the table's earliest original per content hash and
        # its sketches per band key, as they were before the batch wrote anything.
        self._hash_ahead: dict[str, ArticleRef | None] | None = None
        self._near_ahead: dict[int, list[StoredSketch]] | None = None

    @property
    def reads_ahead(self) -> bool:
        """Whether ``read_ahead`` saves anything (Postgres: reads are round trips)."""
        return self._postgres

    def read_ahead(self, found: Sequence[Features]) -> None:
        """Read, for a batch's articles, what the layers will look up: one statement for
        their content hashes, one for their LSH band keys and one per DEFAULT_TERM_CHUNK of
        their terms' document counts, instead of three per article.

        ``found``: each article's ``features(doc, config, with_terms=True)``."""
        digests = sorted({f.digest for f in found if f.digest is not None})
        self._hash_ahead = dict.fromkeys(digests)
        if digests:
            for row in self.session.execute(_PG_ARTICLES_BY_HASHES, {"digests": digests}):
                self._hash_ahead[row[0]] = ArticleRef(row[1], row[2], row[3], row[4])
        # The counts of every term a batch's article may count (those that turn out to be
        # copies count none): one statement per DEFAULT_TERM_CHUNK terms instead of one per
        # article. Nothing else writes them while the batch holds the lock, and the batch's own
        # increments are counted on in memory from these.
        terms = {t[:TERM_CHARS] for f in found if f.terms is not None for t in f.terms.counts}
        self._read_counts(terms | {_DOCUMENTS})
        keys = sorted({k for f in found for k in f.keys})
        self._near_ahead = {k: [] for k in keys}
        if keys:
            decoded: dict[int, StoredSketch] = {}
            for key, article_id, signature, shingles, published in self.session.execute(
                _PG_NEAR_BY_KEYS, {"keys": int_array(keys)}
            ):
                stored = decoded.get(article_id)
                if stored is None:
                    sketch = Sketch.from_bytes(signature, shingles)
                    stored = decoded[article_id] = StoredSketch(article_id, sketch, published)
                self._near_ahead[key].append(stored)

    def _read_counts(self, wanted: Iterable[str]) -> None:
        """Document counts of the terms not read yet in this transaction (0: not in the table):
        those this process kept from its last batch, if still valid, then from the table."""
        df = self._df
        if not self._kept_checked:
            self._kept_checked = True
            KEPT_COUNTS.check(self.session.execute(_PG_COUNTS_TOKEN).scalar())
        unknown = []
        for term in {t for t in wanted if t not in df}:
            kept = KEPT_COUNTS.get(term)
            if kept is None:
                unknown.append(term)
            else:
                df[term] = kept
        unknown.sort()
        df.update(dict.fromkeys(unknown, 0))
        for start in range(0, len(unknown), DEFAULT_TERM_CHUNK):
            chunk = unknown[start : start + DEFAULT_TERM_CHUNK]
            found = self.session.execute(_PG_TERM_COUNTS, {"terms": text_array(chunk)})
            for term, count in found:
                self._df[term] = int(count)

    def flush(self, meanwhile: Callable[[], object] | None = None) -> None:
        """Write what is held back (Postgres); ``assign_stories`` calls it at the end.

        ``meanwhile``: run in this thread while the statement runs on the server (it must not
        use the session); it also runs when nothing is held or on SQLite."""
        if not self._postgres:
            if meanwhile is not None:
                meanwhile()
            return
        held = self._writes.take()
        self._changed.clear()
        if self._near_ahead is not None:  # the held sketches are in the table now
            for key, stored in self._bands.items():
                if key in self._near_ahead:
                    self._near_ahead[key].extend(stored)
        self._bands.clear()
        # What the table holds for a content hash may change with the articles written now.
        self._hash_ahead = None
        if held is None:
            if meanwhile is not None:
                meanwhile()
        elif meanwhile is None:
            self.session.execute(*held)
        else:
            _overlapped(lambda: self.session.execute(*held), meanwhile)

    def finish(self, meanwhile: Callable[[], object] | None = None) -> None:
        """The end of a batch (``assign_stories`` calls it): write what is held back (running
        ``meanwhile`` as ``flush`` does); then hand back the story ids not used, and keep the
        document counts for the next batch, with the token its writes left (Postgres)."""
        self.flush(meanwhile)
        if not self._postgres:
            return
        if self._story_ids:
            # Under the story-step lock nobody else takes ids (only this step creates stories):
            # the sequence goes back to the last id used, unless it moved on meanwhile.
            self.session.execute(
                _PG_RETURN_STORY_IDS,
                {"last": self._story_ids[-1] - 1, "top": self._story_ids_top},
            )
            self._story_ids = []
        if self._df:
            KEPT_COUNTS.keep(self._df, self.session.execute(_PG_COUNTS_TOKEN).scalar())

    def record_change(self, kind: str, entity_id: int, **payload: Any) -> None:
        """``worker.store.record_change``, held back with the other writes on Postgres."""
        if self._postgres and not any(isinstance(o, Change) for o in self.session.new):
            self._writes.change(
                {"kind": kind, "entity_id": entity_id, "payload": change_payload(**payload)}
            )
        else:  # after outbox rows the ORM will write: after them, in the order recorded
            record_change(self.session, kind, entity_id, **payload)

    def _set(self, row: object, **values: Any) -> None:
        """Change attributes of a loaded row: now on the object, written by the next flush."""
        if not self._postgres:
            for name, value in values.items():
                setattr(row, name, value)
            return
        if self._writes.is_new(row):
            for name, value in values.items():
                setattr(row, name, value)  # not in the session: inserted whole by flush
            return
        for name, value in values.items():
            set_committed_value(row, name, value)
        table = cast(Table, type(row).__table__)  # type: ignore[attr-defined]
        key = int(getattr(row, table.primary_key.columns.values()[0].name))
        self._writes.update(row, table.name, key, values)
        if isinstance(row, Story):
            self._changed.add(key)

    def _changed_articles(self) -> dict[int, Article]:
        return {
            key: cast(Article, row)
            for (table, key), (row, _) in self._writes.updates.items()
            if table == "articles"
        }

    # --- articles ------------------------------------------------------------------------
    def article(self, article_id: int) -> ArticleRef | None:
        row = self._writes.updated_row("articles", article_id) if self._postgres else None
        if isinstance(row, Article):
            return ArticleRef(row.id, row.story_id, row.duplicate_of, reported_at(row))
        found = self.session.execute(_ARTICLE_BY_ID, {"article_id": article_id}).first()
        return None if found is None else ArticleRef(found[0], found[1], found[2], found[3])

    def find_by_hash(self, digest: str) -> ArticleRef | None:
        if not self._postgres:
            row = self.session.execute(_ARTICLE_BY_HASH, {"digest": digest}).first()
            return None if row is None else ArticleRef(row[0], row[1], row[2], row[3])
        changed = self._changed_articles()
        refs = [
            ArticleRef(a.id, a.story_id, a.duplicate_of, reported_at(a))
            for a in changed.values()
            if a.content_hash == digest
            and a.duplicate_of is None
            and a.story_id is not None
            and a.status == ArticleStatus.OK
        ]
        ahead = self._hash_ahead
        if ahead is not None and digest in ahead:
            earliest = ahead[digest]
            if earliest is None or earliest.id not in changed:
                if earliest is not None:
                    refs.append(earliest)
                return min(refs, key=_earliest, default=None)
        # Not read ahead, or the table's earliest has changed since: ask the table.
        stored = self.session.execute(
            _PG_ARTICLE_BY_HASH, {"digest": digest, "changed": sorted(changed)}
        ).first()
        if stored is not None:
            refs.append(ArticleRef(stored[0], stored[1], stored[2], stored[3]))
        # The earliest, in the order of the SQL above.
        return min(refs, key=_earliest, default=None)

    def attach(
        self, doc: StoryDoc, story_id: int, duplicate_of: int | None, digest: str | None
    ) -> None:
        article = self.session.get(Article, doc.id)  # in the session: assign_stories read it
        if article is None:
            raise LookupError(f"article {doc.id} does not exist")
        values: dict[str, Any] = {"story_id": story_id, "duplicate_of": duplicate_of}
        if digest is not None:
            values["content_hash"] = digest
        if article.story_error is not None:  # it failed before: in the same write, no other
            values["story_error"] = None
        self._set(article, **values)
        if doc.outlet:
            profile = self._profile(story_id)
            if doc.outlet not in profile.outlets:
                outlets = [*profile.outlets, doc.outlet]
                self._set(profile, outlets=outlets)
                self._set(self._story_row(story_id), outlet_count=len(outlets))

    def adopt_copies(self, original: int, former: int) -> None:
        self.flush()  # rare: the query below then sees every write before it
        moved = self.session.scalars(
            select(Article)
            .where(or_(Article.id == former, Article.duplicate_of == former))
            .order_by(Article.id)  # the outbox rows in one order, whatever the table's layout
        ).all()
        for article in moved:
            self._set(article, duplicate_of=original)
            record_article(self, article.id, article.story_id, original, "earlier original")

    def join_copy(self, doc: StoryDoc, original: Article) -> Assignment:
        """Attach an exact copy (already marked by the text-hash step) to its original's story."""
        assert original.story_id is not None
        story = self.story(original.story_id)
        count_article(story, doc, [])
        self.save_story(story)
        self.attach(doc, story.id, original.id, None)
        return Assignment(story.id, original.id, False, (), "exact", 1.0)

    # --- layer 3 -------------------------------------------------------------------------
    def near_candidates(self, band_keys: Sequence[int]) -> list[StoredSketch]:
        if self._postgres:
            ahead = self._near_ahead
            if ahead is not None and all(k in ahead for k in band_keys):
                near = {s.article_id: s for k in band_keys for s in ahead[k]}
            else:
                found = self.session.execute(_PG_NEAR, {"keys": list(band_keys)}).all()
                near = {
                    r[0]: StoredSketch(r[0], Sketch.from_bytes(r[1], r[2]), r[3]) for r in found
                }
            for key in band_keys:  # and the sketches held back
                near.update((s.article_id, s) for s in self._bands.get(key, ()))
            return [near[article_id] for article_id in sorted(near)]
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
            self._writes.add_sketch({**row, "keys": keys})
            stored = StoredSketch(article_id, sketch, published_at)
            for key in keys:
                self._bands.setdefault(key, []).append(stored)
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
            # The counts are read once per transaction and counted on here; the increments go
            # out with the other writes (the lock keeps them exact).
            self._read_counts(wanted)
            df = self._df
            for t in wanted:
                df[t] += 1
            self._writes.count_terms(wanted)
            counts = {t: df[t] for t in wanted}
        else:
            # One statement text whatever the number of terms (an executemany and an expanding
            # IN), so it is compiled once per process, not once per article.
            self.session.connection().execute(_upsert_df(), [{"term": t} for t in wanted])
            rows = self.session.execute(
                select(TermStat.term, TermStat.df).where(TermStat.term.in_(wanted))
            ).all()
            counts = {term: int(count) for term, count in rows}
        return counts.pop(_DOCUMENTS), counts

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
        self.record_change("story.merged", gone, merged_into=keep, articles=len(moved))
        for article_id in moved:
            self.record_change("article.updated", article_id, story_id=keep, method="merge")

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


def _overlapped(write: Callable[[], object], meanwhile: Callable[[], object]) -> None:
    """Run ``write`` in a thread of its own while ``meanwhile`` runs in this one; raise what
    ``write`` raised (first) or ``meanwhile`` raised, once both are over.

    Why a thread: the batch's final write is the longest statement (~60 ms of server time for
    32 articles), and this process only waits for it. The thread mostly waits on the socket,
    without the GIL, so ``meanwhile`` (pure Python: the next batch's features) runs at full
    speed; the session is the thread's alone until it is joined."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as exc:  # re-raised in the caller's thread below
            failed.append(exc)

    writer = threading.Thread(target=run, name="storywire-story-write", daemon=True)
    writer.start()
    try:
        meanwhile()
    finally:
        # Joined even through an interrupt (a task's soft time limit, a shutdown signal): the
        # caller's rollback must not touch the connection while the statement is running.
        interrupted: BaseException | None = None
        while writer.is_alive():
            try:
                writer.join()
            except BaseException as exc:  # re-raised once the write is over
                interrupted = interrupted or exc
        if failed:
            raise failed[0]
        if interrupted is not None:
            raise interrupted


def _earliest(ref: ArticleRef) -> tuple[bool, datetime, int]:
    # Known times first, in order; then by id (the ORDER BY of the hash lookups).
    return (ref.published_at is None, ref.published_at or _NO_TIME, ref.id)


_NO_TIME = datetime.min.replace(tzinfo=UTC)


def _postings(centroid: Mapping[str, float]) -> dict[str, float]:
    """The (term, weight) rows ``story_terms`` holds for a story with this centroid."""
    return {t[:TERM_CHARS]: w for t, w in posting_terms(centroid).items()}
