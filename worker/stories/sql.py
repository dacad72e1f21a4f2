"""The story step's state in SQL: ``SqlStoryIndex``, the ``StoryIndex`` of the worker.

Usage (``worker.stories.step`` does this for each batch, under the story-step lock)::

    index = SqlStoryIndex(session)
    index.read_ahead([features(doc, with_terms=True) for doc in docs])   # Postgres, batches
    result = assign(index, doc, config, found)      # worker.stories.assigner, per article
    index.finish()                                  # the held-back writes, one statement

Every lookup is by key or through an index (content hash, LSH band keys, term postings,
story ids), never a scan of all stories or articles. On Postgres the writes of a batch are
held back (``worker.stories.sql_writes``) and its reads answer from the tables plus what is
held back, so a batch sees exactly what one transaction per article would have seen. The
tables are those of ``models/story_state.py`` plus ``stories`` and ``articles``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    bindparam,
    func,
    or_,
    select,
    text,
)

from models import Article, ArticleStatus, ChangeKind, StoryMethod
from models.story_state import (
    TERM_CHARS,
)
from models.types import UTCDateTime
from worker.stories.assigner import Assignment, Features, count_article
from worker.stories.index import (
    ArticleRef,
    StoryDoc,
)
from worker.stories.sql_profiles import StoryProfiles
from worker.stories.sql_sketches import SketchIndex
from worker.stories.sql_terms import DOCUMENTS_TERM, TermCounts

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
    index.record_change(ChangeKind.ARTICLE_UPDATED, article_id, **facts)
    if duplicate_of is not None:
        # Its own kind too: consumers that only care about copies subscribe to this one.
        index.record_change(ChangeKind.ARTICLE_DUPLICATE, article_id, **facts)


class SqlStoryIndex(StoryProfiles, SketchIndex, TermCounts):
    """A ``StoryIndex`` on the tables of ``models/story_state.py`` (plus stories/articles):
    layer 2 here (articles and content hashes), layer 3 in ``SketchIndex``, layer 4 in
    ``StoryProfiles`` and ``TermCounts``; the transaction's state in ``BatchState``."""

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
        self._read_counts(terms | {DOCUMENTS_TERM})
        keys = sorted({k for f in found for k in f.keys})
        self._read_bands_ahead(keys)

    def finish(self, meanwhile: Callable[[], object] | None = None) -> None:
        """The end of a batch (``assign_stories`` calls it): write what is held back (running
        ``meanwhile`` as ``flush`` does); then hand back the story ids not used, and keep the
        document counts for the next batch, with the token its writes left (Postgres)."""
        self.flush(meanwhile)
        if not self._postgres:
            return
        self._return_story_ids()
        self._keep_counts()

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
        return Assignment(story.id, original.id, False, (), StoryMethod.EXACT, 1.0)


def _earliest(ref: ArticleRef) -> tuple[bool, datetime, int]:
    # Known times first, in order; then by id (the ORDER BY of the hash lookups).
    return (ref.published_at is None, ref.published_at or _NO_TIME, ref.id)


_NO_TIME = datetime.min.replace(tzinfo=UTC)
