"""What the story assigner reads and writes, behind one small storage interface.

Usage::

    index = InMemoryStoryIndex()            # tests, benchmarks, the offline backfill
    result = assign(index, StoryDoc(id=1, title=..., text=..., published_at=...))

The SQL-backed implementation (``worker/stories/sql.py``) keeps the same state in tables, so a
worker rebuilds nothing after a restart. Every method is a lookup by key or a write of one
small record: no method scans all stories or all articles.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from worker.dedupe.minhash import Sketch
from worker.stories.vectors import Vector, top_terms

#: A story is found by (is a posting of) its centroid's heaviest terms, not all of them: an
#: article's candidates come from its own 20 heaviest, and a story about its event shares its
#: heaviest terms. On ECB+ (in memory, 4 orders) 5-100 postings per story give the same
#: stories within 0.0002 of F1, 10 and up exactly the same; 30 keeps a margin, at 30% of the
#: rows of 100. Changing it needs a migration (0008 trims the postings to this many).
DEFAULT_POSTING_TERMS = 30


def posting_terms(centroid: Mapping[str, float]) -> Vector:
    """The terms (and weights) a story with this centroid is found by."""
    return top_terms(centroid, DEFAULT_POSTING_TERMS)


@dataclass(frozen=True, slots=True)
class StoryDoc:
    """One article as the assigner sees it."""

    id: int
    title: str | None
    text: str | None
    published_at: datetime | None = None  # UTC; None = unknown (no time kernel, no window)
    language: str | None = None
    outlet: str | None = None  # site name or host, for the story's distinct-outlet count
    # Whether ``text`` is the page's extracted text. False: only what the feed said (a failed
    # or blocked page), which the copy layers skip, as a feed's summary says nothing of a page.
    extracted: bool = True


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """An article already assigned."""

    id: int
    story_id: int | None  # None only while an article waits for its own assignment
    duplicate_of: int | None
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredSketch:
    """A MinHash sketch found through a shared LSH band."""

    article_id: int
    sketch: Sketch
    published_at: datetime | None


@dataclass(slots=True)
class StoryState:
    """What matching needs of a story; persisted by ``StoryIndex.save_story``."""

    id: int
    centroid: Vector  # sum of member unit vectors, top-K terms
    first_published_at: datetime | None
    last_published_at: datetime | None
    article_count: int = 0
    headline: str | None = None
    language: str | None = None
    # Capitalized phrases seen in members, with counts (the displayed keywords are the top few).
    phrases: dict[str, int] = field(default_factory=dict)


class StoryIndex(Protocol):
    """Storage of what layers 2-4 need. All lookups are by key; none scans."""

    # --- articles and layer 2 (same normalized text) ----------------------------------
    def article(self, article_id: int) -> ArticleRef | None: ...

    def find_by_hash(self, content_hash: str) -> ArticleRef | None:
        """The earliest assigned article with this content hash that is not itself a copy."""
        ...

    def attach(
        self,
        doc: StoryDoc,
        story_id: int,
        duplicate_of: int | None,
        content_hash: str | None,
    ) -> None:
        """Record the article's story and original (and its outlet for the story's count)."""
        ...

    def adopt_copies(self, original: int, former: int) -> None:
        """Make ``former`` (an original until now) and its copies copies of ``original``."""
        ...

    # --- layer 3 (syndicated copies) ----------------------------------------------------
    def near_candidates(self, band_keys: Sequence[int]) -> list[StoredSketch]:
        """Stored sketches sharing at least one LSH band key."""
        ...

    def add_sketch(
        self,
        article_id: int,
        sketch: Sketch,
        band_keys: Sequence[int],
        published_at: datetime | None,
    ) -> None: ...

    # --- layer 4 (same event) -----------------------------------------------------------
    def count_document(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        """Count one more document containing ``terms``; return (documents, df of each term)."""
        ...

    def candidate_stories(
        self, query: Mapping[str, float], active_since: datetime | None
    ) -> list[StoryState]:
        """Live (not merged) stories whose centroid holds any term of ``query`` (the new
        article's heaviest terms and their weights), last active at or after ``active_since``
        (any time when None). An index may keep only the best few by partial dot product."""
        ...

    def story(self, story_id: int) -> StoryState: ...

    def create_story(self, state: StoryState) -> StoryState:
        """Store a new story; returns it with its id set (``state.id`` is ignored)."""
        ...

    def save_story(self, state: StoryState) -> None:
        """Store an existing story's new centroid, times, counts and phrases."""
        ...

    def merge(self, keep: int, gone: int) -> None:
        """Point ``gone`` (and its articles) at ``keep``; ``gone`` is no longer a candidate."""
        ...


class InMemoryStoryIndex:
    """A ``StoryIndex`` in dicts: for tests, benchmarks and one-shot clustering of a file."""

    def __init__(self) -> None:
        self.articles: dict[int, ArticleRef] = {}
        self._by_hash: dict[str, int] = {}
        self._copies: dict[int, list[int]] = defaultdict(list)
        self._bands: dict[int, list[int]] = defaultdict(list)
        self._sketches: dict[int, StoredSketch] = {}
        self._df: Counter[str] = Counter()
        self._n_docs = 0
        self.stories: dict[int, StoryState] = {}
        self.merged_into: dict[int, int] = {}
        self._postings: dict[str, set[int]] = defaultdict(set)
        self._indexed_terms: dict[int, frozenset[str]] = {}
        self.outlets: dict[int, set[str]] = defaultdict(set)
        self._next_story_id = 1

    # --- articles ------------------------------------------------------------------------
    def article(self, article_id: int) -> ArticleRef | None:
        ref = self.articles.get(article_id)
        if ref is None or ref.story_id is None or ref.story_id not in self.merged_into:
            return ref
        return ArticleRef(ref.id, self.resolve(ref.story_id), ref.duplicate_of, ref.published_at)

    def find_by_hash(self, content_hash: str) -> ArticleRef | None:
        found = self._by_hash.get(content_hash)
        return None if found is None else self.article(found)

    def attach(
        self,
        doc: StoryDoc,
        story_id: int,
        duplicate_of: int | None,
        content_hash: str | None,
    ) -> None:
        self.articles[doc.id] = ArticleRef(doc.id, story_id, duplicate_of, doc.published_at)
        if duplicate_of is not None:
            self._copies[duplicate_of].append(doc.id)
        if content_hash and duplicate_of is None:
            self._by_hash.setdefault(content_hash, doc.id)
        if doc.outlet:
            self.outlets[story_id].add(doc.outlet)

    def adopt_copies(self, original: int, former: int) -> None:
        for article_id in [former, *self._copies.pop(former, [])]:
            ref = self.articles[article_id]
            self.articles[article_id] = ArticleRef(ref.id, ref.story_id, original, ref.published_at)
            self._copies[original].append(article_id)

    def story_of(self, article_id: int) -> int:
        """The article's story, following merges (the id a consumer sees now)."""
        story_id = self.articles[article_id].story_id
        assert story_id is not None  # every article this index attached has a story
        return self.resolve(story_id)

    def resolve(self, story_id: int) -> int:
        while story_id in self.merged_into:
            story_id = self.merged_into[story_id]
        return story_id

    # --- layer 3 -------------------------------------------------------------------------
    def near_candidates(self, band_keys: Sequence[int]) -> list[StoredSketch]:
        ids = {a for key in band_keys for a in self._bands.get(key, ())}
        return [self._sketches[a] for a in sorted(ids)]

    def add_sketch(
        self,
        article_id: int,
        sketch: Sketch,
        band_keys: Sequence[int],
        published_at: datetime | None,
    ) -> None:
        self._sketches[article_id] = StoredSketch(article_id, sketch, published_at)
        for key in band_keys:
            self._bands[key].append(article_id)

    # --- layer 4 -------------------------------------------------------------------------
    def count_document(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        self._n_docs += 1
        df: dict[str, int] = {}
        for t in terms:
            self._df[t] += 1
            df[t] = self._df[t]
        return self._n_docs, df

    def candidate_stories(
        self, query: Mapping[str, float], active_since: datetime | None
    ) -> list[StoryState]:
        ids: set[int] = set()
        for t in query:
            ids |= self._postings.get(t, set())
        found = [self.stories[i] for i in sorted(ids)]
        if active_since is None:
            return found
        return [
            s for s in found if s.last_published_at is None or s.last_published_at >= active_since
        ]

    def story(self, story_id: int) -> StoryState:
        return self.stories[self.resolve(story_id)]

    def create_story(self, state: StoryState) -> StoryState:
        state.id = self._next_story_id
        self._next_story_id += 1
        self.stories[state.id] = state
        self._reindex(state)
        return state

    def save_story(self, state: StoryState) -> None:
        self.stories[state.id] = state
        self._reindex(state)

    def merge(self, keep: int, gone: int) -> None:
        self.merged_into[gone] = keep
        self.outlets[keep] |= self.outlets.pop(gone, set())
        for t in self._indexed_terms.pop(gone, frozenset()):
            self._postings[t].discard(gone)
        del self.stories[gone]

    def _reindex(self, state: StoryState) -> None:
        new = frozenset(posting_terms(state.centroid))
        old = self._indexed_terms.get(state.id, frozenset())
        for t in old - new:
            self._postings[t].discard(state.id)
        for t in new - old:
            self._postings[t].add(state.id)
        self._indexed_terms[state.id] = new

    def outlet_count(self, story_id: int) -> int:
        return len(self.outlets.get(story_id, ()))


def top_phrases(phrases: Mapping[str, int], limit: int) -> list[str]:
    """The most frequent phrases (ties by text), for a story's keywords."""
    return [p for p, _ in sorted(phrases.items(), key=lambda pc: (-pc[1], pc[0]))[:limit]]
