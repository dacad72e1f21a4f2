"""Assign one article to a story: exact copy -> syndicated copy -> same event -> new story.

Usage::

    index = InMemoryStoryIndex()
    for doc in docs_in_publication_order:
        result = assign(index, doc)
        result.story_id, result.duplicate_of, result.new_story, result.merged

One article at a time, in publication order, against the stories active in a time window; the
candidate stories come from the index's term -> story postings, never from a scan. The layers:

2. same normalized text (``content_hash``) -> a copy of the earliest such article;
3. MinHash/LSH containment >= ``min_containment`` -> a copy (trimmed, re-headlined, lightly
   edited) of the earliest matching article; a copy joins its original's story and does not
   move the story's centroid (it adds no new words, only weight);
4. cosine of the TF-IDF vector (title x2, proper nouns and numbers x3) with each candidate story's
   centroid, times the time decay (``worker.stories.scoring``: 1 inside the story's span, half
   a week away) and the length calibration (a headline-only text is judged on the scale of a
   full one); the best >= ``join_threshold`` wins, else a new story.
   After a join, a story whose centroid now matches another's (cosine >= ``merge_threshold``)
   is merged into the older one.

Layer 1 (same canonical URL) happens before this, when the article row is upserted.
Thresholds were calibrated once (``bench/stories_eval.py``, docs/stories.md) and ship as
``DEFAULT_CONFIG``: one configuration for every feed and language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from models import StoryMethod
from worker.dedupe.exact import hash_normalized, normalize_text
from worker.dedupe.minhash import (
    DEFAULT_BAND_ROWS,
    DEFAULT_BANDS,
    DEFAULT_MIN_CONTAINMENT,
    Sketch,
    band_keys,
    compare,
    sketch_normalized,
)
from worker.stories.index import ArticleRef, StoryDoc, StoryIndex, StoryState
from worker.stories.scoring import (
    DEFAULT_LENGTH_TERMS,
    DEFAULT_TIME_SCALE,
    length_factor,
    time_decay,
)
from worker.stories.terms import DEFAULT_TITLE_WEIGHT, Terms, extract_terms, key_phrases
from worker.stories.vectors import (
    DEFAULT_CENTROID_TERMS,
    DEFAULT_NUMBER_WEIGHT,
    DEFAULT_PROPER_WEIGHT,
    add_to_centroid,
    cosine,
    similarity,
    top_terms,
    weigh,
)

#: Cosine (after the time kernel) from which an article joins a story.
DEFAULT_JOIN_THRESHOLD = 0.35
#: Cosine of two story centroids from which they are one story.
DEFAULT_MERGE_THRESHOLD = 0.7
#: A story is a candidate while its last article is at most this old (relative to the new one):
#: a bound on the online step's work (more live stories, more candidates to load and score).
#: Coverage that arrives later opens a story of its own, and refinement, whose window is
#: longer, merges it with its event's story.
DEFAULT_WINDOW = timedelta(hours=72)
#: The heaviest terms of an article used to look up candidate stories.
DEFAULT_QUERY_TERMS = 20
#: Phrases kept per story for its keywords.
DEFAULT_STORY_PHRASES = 30


@dataclass(frozen=True, slots=True)
class StoryConfig:
    """Every knob of the assigner; the defaults are the calibrated, shipped configuration."""

    join_threshold: float = DEFAULT_JOIN_THRESHOLD
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD
    window: timedelta = DEFAULT_WINDOW
    time_scale: timedelta = DEFAULT_TIME_SCALE
    length_terms: float = DEFAULT_LENGTH_TERMS
    title_weight: float = DEFAULT_TITLE_WEIGHT
    proper_weight: float = DEFAULT_PROPER_WEIGHT
    number_weight: float = DEFAULT_NUMBER_WEIGHT
    centroid_terms: int = DEFAULT_CENTROID_TERMS
    query_terms: int = DEFAULT_QUERY_TERMS
    min_containment: float = DEFAULT_MIN_CONTAINMENT
    bands: int = DEFAULT_BANDS
    band_rows: int = DEFAULT_BAND_ROWS

    def with_(self, **changes: object) -> StoryConfig:
        """A copy with some fields changed (benchmarks sweep thresholds this way)."""
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_CONFIG = StoryConfig()

#: The ``method`` of an article that had its story already (a redelivered task): nothing is
#: written, so it is no ``StoryMethod`` of the change feed.
ALREADY_ASSIGNED = "done"


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where an article went and why."""

    story_id: int
    duplicate_of: int | None  # the original, for layers 2 and 3
    new_story: bool
    merged: tuple[int, ...] = ()  # stories merged into ``story_id`` by this assignment
    method: str = StoryMethod.NEW  # exact, near, similar, new; or ALREADY_ASSIGNED
    score: float = 0.0  # containment (near) or kernel-weighted cosine (similar)


@dataclass(frozen=True, slots=True)
class Features:
    """What an article is looked up by: its text's hash and its MinHash sketch and band keys
    (layers 2 and 3), and, when asked for, its terms (layer 4). Computed once per article; a
    batch computes them first to read ahead for all its articles."""

    digest: str | None
    sketch: Sketch | None
    keys: list[int]
    terms: Terms | None = None
    phrases: list[str] | None = None


def features(
    doc: StoryDoc,
    config: StoryConfig = DEFAULT_CONFIG,
    *,
    with_terms: bool = False,
    with_phrases: bool = False,
) -> Features:
    """``doc``'s features, e.g. ``features(doc).keys``.

    ``with_terms``: extract its terms too (layer 4 needs them unless the article is a copy;
    a batch reads their document counts ahead). ``with_phrases``: and its key phrases (a
    story's keywords; computed ahead only when it costs no time under the story-step lock)."""
    # Only a page's extracted text is compared for copies: a failed page keeps the feed's
    # summary, and two unrelated ones may share a generic one ("Read more...").
    text = (doc.text or "") if doc.extracted else ""
    # Normalized once: layer 2 hashes it, layer 3 shingles it.
    normalized = normalize_text(text)
    sk = sketch_normalized(normalized) if normalized else None
    return Features(
        digest=hash_normalized(normalized) if text.strip() else None,
        sketch=sk,
        keys=band_keys(sk, bands=config.bands, rows=config.band_rows) if sk is not None else [],
        terms=_terms(doc, config) if with_terms else None,
        phrases=_phrases(doc) if with_phrases else None,
    )


def _terms(doc: StoryDoc, config: StoryConfig) -> Terms:
    return extract_terms(doc.title, doc.text, doc.language, title_weight=config.title_weight)


def _phrases(doc: StoryDoc) -> list[str]:
    return key_phrases(f"{doc.title or ''}.\n{doc.text or ''}", limit=10, language=doc.language)


def assign(
    index: StoryIndex,
    doc: StoryDoc,
    config: StoryConfig = DEFAULT_CONFIG,
    found: Features | None = None,
) -> Assignment:
    """Assign ``doc`` to a story (existing or new) and record it in ``index``.

    ``found``: its ``features(doc, config)`` if already computed."""
    f = found or features(doc, config)
    digest, sk, keys = f.digest, f.sketch, f.keys

    # Layer 2: the same text, byte for byte once normalized.
    if digest is not None:
        same = index.find_by_hash(digest)
        original = _root(index, same) if same is not None else None
        if original is not None and original.id != doc.id and original.story_id is not None:
            return _join_as_copy(index, doc, original, digest, StoryMethod.EXACT, 1.0)

    # Layer 3: a syndicated copy (another site's boilerplate, trimmed ending, small edits).
    if sk is not None:
        best: tuple[tuple[int, datetime | None, int], ArticleRef, float] | None = None
        for stored in index.near_candidates(keys):
            match = compare(sk, stored.sketch, min_containment=config.min_containment)
            ref = index.article(stored.article_id) if match.is_copy else None
            ref = _root(index, ref) if ref is not None else None
            if ref is None or ref.id == doc.id or ref.story_id is None:
                continue
            # The earliest copy is the original.
            order = _chronological(stored.published_at, stored.article_id)
            if best is None or _before(order, best[0]):
                best = (order, ref, match.containment)
        if best is not None:
            result = _join_as_copy(index, doc, best[1], digest, StoryMethod.NEAR, best[2])
            if result.duplicate_of is None:  # the newcomer is older: it is the original now
                index.add_sketch(doc.id, sk, keys, doc.published_at)
            return result
        index.add_sketch(doc.id, sk, keys, doc.published_at)

    # Layer 4: the same event in other words.
    terms = f.terms if f.terms is not None else _terms(doc, config)
    n_docs, df = index.count_document(terms.counts)
    vec = weigh(
        terms, n_docs, df, proper_weight=config.proper_weight, number_weight=config.number_weight
    )
    query = top_terms(vec, config.query_terms)
    active_since = doc.published_at - config.window if doc.published_at else None

    chosen: StoryState | None = None
    chosen_score = 0.0
    candidates = index.candidate_stories(query, active_since)
    # A short text (a title and a feed summary) is judged on the scale of full texts.
    scale = length_factor(len(terms.counts), config.length_terms)
    for story in candidates:
        time = _time_factor(doc.published_at, story, config)
        score = similarity(vec, story.centroid) * scale * time
        if score > chosen_score:
            chosen, chosen_score = story, score
    phrases = f.phrases if f.phrases is not None else _phrases(doc)

    if chosen is None or chosen_score < config.join_threshold:
        state = index.create_story(
            StoryState(
                id=0,
                centroid=top_terms(vec, config.centroid_terms),
                first_published_at=doc.published_at,
                last_published_at=doc.published_at,
                article_count=1,
                headline=doc.title,
                language=doc.language,
                phrases=dict.fromkeys(phrases, 1),
            )
        )
        index.attach(doc, state.id, None, digest)
        return Assignment(state.id, None, True, (), StoryMethod.NEW, chosen_score)

    chosen.centroid = add_to_centroid(chosen.centroid, vec, keep=config.centroid_terms)
    count_article(chosen, doc, phrases)
    merged = _merge_matching(index, chosen, candidates, config)
    kept = index.story(merged[0]) if merged else chosen
    index.save_story(kept)
    index.attach(doc, kept.id, None, digest)
    return Assignment(kept.id, None, False, merged[1:], StoryMethod.SIMILAR, chosen_score)


def _root(index: StoryIndex, ref: ArticleRef) -> ArticleRef:
    """Follow ``duplicate_of`` to the original (a copy of a copy points at the first)."""
    seen = {ref.id}
    while ref.duplicate_of is not None:
        parent = index.article(ref.duplicate_of)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        ref = parent
    return ref


def _join_as_copy(
    index: StoryIndex,
    doc: StoryDoc,
    original: ArticleRef,
    digest: str | None,
    method: str,
    score: float,
) -> Assignment:
    assert original.story_id is not None  # checked by the callers
    story = index.story(original.story_id)
    count_article(story, doc, [])
    index.save_story(story)
    if _before(
        _chronological(doc.published_at, doc.id),
        _chronological(original.published_at, original.id),
    ):
        # Articles reach this step in fetch order, not publication order: when the newcomer
        # was published first, it is the original, and the copies found so far point at it.
        index.attach(doc, story.id, None, digest)
        index.adopt_copies(doc.id, original.id)
        return Assignment(story.id, None, False, (), method, score)
    index.attach(doc, story.id, original.id, digest)
    return Assignment(story.id, original.id, False, (), method, score)


def count_article(story: StoryState, doc: StoryDoc, phrases: list[str]) -> None:
    """One more article in ``story``: its count, first/last times and key phrases."""
    story.article_count += 1
    if doc.published_at is not None:
        if story.first_published_at is None or doc.published_at < story.first_published_at:
            story.first_published_at = doc.published_at
        if story.last_published_at is None or doc.published_at > story.last_published_at:
            story.last_published_at = doc.published_at
    for p in phrases:
        story.phrases[p] = story.phrases.get(p, 0) + 1
    if len(story.phrases) > DEFAULT_STORY_PHRASES:
        ranked = sorted(story.phrases.items(), key=lambda pc: (-pc[1], pc[0]))
        story.phrases = dict(ranked[:DEFAULT_STORY_PHRASES])


def _time_factor(when: datetime | None, story: StoryState, config: StoryConfig) -> float:
    if when is None or story.last_published_at is None or story.first_published_at is None:
        return 1.0
    if story.first_published_at <= when <= story.last_published_at:
        return 1.0
    gap = max(when - story.last_published_at, story.first_published_at - when)
    return time_decay(gap, config.time_scale)


def _merge_matching(
    index: StoryIndex, story: StoryState, candidates: list[StoryState], config: StoryConfig
) -> tuple[int, ...]:
    """Merge stories whose centroid now matches ``story``'s; returns (kept, *merged) or ().

    Only the article's own candidate stories are compared (no second lookup): a story that the
    article's words moved ``story`` towards shares those words."""
    others = [
        s
        for s in candidates
        if s.id != story.id and cosine(story.centroid, s.centroid) >= config.merge_threshold
    ]
    if not others:
        return ()
    group = _older_first([story, *others])
    keep = group[0]
    for gone in group[1:]:
        keep.centroid = add_to_centroid(keep.centroid, gone.centroid, keep=config.centroid_terms)
        keep.article_count += gone.article_count
        for when in (gone.first_published_at, gone.last_published_at):
            if when is not None:
                _extend(keep, when)
        for p, c in gone.phrases.items():
            keep.phrases[p] = keep.phrases.get(p, 0) + c
        index.merge(keep.id, gone.id)
    index.save_story(keep)
    return (keep.id, *(s.id for s in group[1:]))


def _extend(story: StoryState, when: datetime) -> None:
    if story.first_published_at is None or when < story.first_published_at:
        story.first_published_at = when
    if story.last_published_at is None or when > story.last_published_at:
        story.last_published_at = when


def _chronological(when: datetime | None, ident: int) -> tuple[int, datetime | None, int]:
    # Known times first, in order; unknown times after them, by id (arrival order).
    return (0, when, ident) if when is not None else (1, None, ident)


def _before(a: tuple[int, datetime | None, int], b: tuple[int, datetime | None, int]) -> bool:
    if a[0] != b[0]:
        return a[0] < b[0]
    if a[1] is not None and b[1] is not None and a[1] != b[1]:
        return a[1] < b[1]
    return a[2] < b[2]


def _older_first(stories: list[StoryState]) -> list[StoryState]:
    # The older story survives a merge, so ids consumers already hold stay valid.
    ordered: list[StoryState] = []
    for s in stories:
        key = _chronological(s.first_published_at, s.id)
        at = next(
            (
                i
                for i, o in enumerate(ordered)
                if _before(key, _chronological(o.first_published_at, o.id))
            ),
            len(ordered),
        )
        ordered.insert(at, s)
    return ordered
