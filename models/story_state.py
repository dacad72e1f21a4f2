"""The story assigner's index: what layers 3 and 4 look up, kept in the database.

Nothing the assigner needs lives only in a worker's memory: after a restart every lookup reads
these tables. All of them are internal to the worker (not part of the consumer contract) and
can be rebuilt from ``articles`` and ``stories``.

- ``article_sketches`` / ``article_bands``: MinHash signature of each original article and its
  LSH band keys; a syndicated copy is found with ``WHERE band_key IN (...)`` on the primary key.
- ``story_terms``: the terms of each live story's centroid; the ``(term, story_id)`` index is
  the term -> story postings that candidate stories come from.
- ``story_profiles``: per story, its centroid (top-K terms and weights), the phrase counts its
  keywords are drawn from, and its outlets.
- ``term_stats``: document frequency of every term (and, under the empty term, the number of
  documents counted), for the incrementally learned IDF.
- ``article_features``: an article's features (hash, sketch, terms, phrases), computed when
  its page is stored and read once by its story step; a row lives from then until that step.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.types import JSONType, UTCDateTime

#: Longest term stored (longer tokens are dropped by the tokenizer anyway).
TERM_CHARS = 64
#: Percent of a ``term_stats`` page filled by inserts on Postgres: the rest is for HOT updates.
TERM_STATS_FILLFACTOR = 70


class ArticleSketch(Base):
    """MinHash signature of an original article (copies are not indexed: they match it)."""

    __tablename__ = "article_sketches"

    article_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    )
    #: DEFAULT_NUM_PERM little-endian uint32 values (worker.dedupe.minhash.Sketch.to_bytes).
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    #: Distinct shingles of the text: turns the Jaccard estimate into containment.
    shingles: Mapped[int] = mapped_column(Integer)
    #: The article's date (layer 3 takes the earlier of a near pair as the original).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the sketch was written (the database's clock: every writer leaves it to the
    #: default). Pruned once both this and ``published_at`` are past the syndication window
    #: (worker.stories.prune); the index finds those (alembic 0007).
    added_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP"), index=True
    )


class ArticleBand(Base):
    """One LSH band key of an article's sketch (the band index is folded into the key)."""

    __tablename__ = "article_bands"

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )


class StoryTerm(Base):
    """A term of a live story's centroid: the postings candidate stories come from.

    ``weight`` is the term's weight when it entered the centroid; it only ranks candidates
    (the centroid itself, kept up to date, is ``story_profiles.centroid``)."""

    __tablename__ = "story_terms"

    story_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("stories.id", ondelete="CASCADE"),
        primary_key=True,
    )
    term: Mapped[str] = mapped_column(String(TERM_CHARS), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)

    # The postings: which stories hold a term.
    __table_args__ = (Index("ix_story_terms_term_story_id", "term", "story_id"),)


class StoryProfile(Base):
    """What a story's keywords and outlet count are drawn from."""

    __tablename__ = "story_profiles"

    story_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("stories.id", ondelete="CASCADE"),
        primary_key=True,
    )
    #: Capitalized phrases of its articles, with counts (``stories.keywords`` = the top few).
    phrases: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    #: Distinct outlets (site name or host) of its articles (``stories.outlet_count``).
    outlets: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: The centroid, term -> weight (top K); ``story_terms`` holds its terms as postings.
    centroid: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)


class TermStat(Base):
    """Document frequency of a term; the row with the empty term counts the documents."""

    __tablename__ = "term_stats"
    # Room in each page, so the df updates of every article are HOT (alembic 0005).
    __table_args__ = {"postgresql_with": {"fillfactor": TERM_STATS_FILLFACTOR}}

    term: Mapped[str] = mapped_column(String(TERM_CHARS), primary_key=True)
    df: Mapped[int] = mapped_column(BigInteger, default=0)


class TermStatsVersion(Base):
    """One row: a token that changes whenever ``term_stats`` does (Postgres: a statement
    trigger, alembic 0010), so a worker can tell whether document counts it kept from its
    last batch are still the table's (``worker.stories.step``)."""

    __tablename__ = "term_stats_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(36))


class ArticleFeatures(Base):
    """An article's story features, computed by the article task when it stored the page and
    deleted by the story step that uses them (``worker.stories.features_store``)."""

    __tablename__ = "article_features"

    article_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    )
    #: A hash of what the features were computed from (title, text, language, whether the
    #: text was extracted, the configuration's knobs): the step uses them only if it matches.
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    #: The features, JSON (``worker.stories.features_store.encode``).
    data: Mapped[str] = mapped_column(Text)
