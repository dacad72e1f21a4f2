"""An article's story features, stored with its page and read by its story step.

Usage::

    row = features_row(article_id, values, config)    # the article task, before its final
                                                      # write (None: not computed, logged)
    with session_scope(sessions) as session:
        ...                                           # the article's final write (values)
        store_features(session, row)                  # in the same transaction

    found = stored_features(doc, config, row_fingerprint, row_data)   # the story step; None:
                                                                      # stale, compute them

Why: an article's features (content hash, MinHash sketch and band keys, terms, key phrases:
about a millisecond of Python) depend only on its own title, text, language and whether the
text was extracted, yet the story step computed them under the story-step lock, which
serializes every worker's story step. The article task computes them once, beside the page
it stores, where workers run side by side; the story step reads them with its articles.

A row is used only if its ``fingerprint`` is that of the article as the story step reads it:
a hash of exactly what the features depend on (the title, the text the step uses, the
language, whether the text was extracted, the configuration's knobs that shape them and
``FORMAT_VERSION``); else the step computes the features as it always did. The story step
deletes its batch's rows, used or not; those of articles that never get a story go with their
article (``ON DELETE CASCADE``), and ``prune_sketches`` deletes any left beside an article that
has its story (``prune_features``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Executable, Table, bindparam, delete, select
from sqlalchemy.orm import Session

from models import Article
from models.story_state import ArticleFeatures
from worker.dedupe.minhash import Sketch
from worker.store.upsert import insert_for
from worker.stories.assigner import Features, StoryConfig, features
from worker.stories.docs import written_doc
from worker.stories.index import StoryDoc
from worker.stories.terms import Terms

#: Version of what ``encode`` writes and of the code the features come from: part of the
#: fingerprint, so a row written by another release is not used (bump it when ``features``
#: would compute something else for the same article, e.g. a new tokenizer or stop words).
FORMAT_VERSION = 1
#: Bytes of a fingerprint (BLAKE2b): collisions are out of reach for the rows of one store.
DEFAULT_FINGERPRINT_BYTES = 20

log = logging.getLogger(__name__)

_TABLE = cast(Table, ArticleFeatures.__table__)
_NONE = (2**64 - 1).to_bytes(8, "little")  # the length field of a missing part


def fingerprint(doc: StoryDoc, config: StoryConfig) -> bytes:
    """A hash of what ``features(doc, config, with_terms=True, with_phrases=True)`` depends on:
    two docs with the same fingerprint have the same features."""
    digest = hashlib.blake2b(digest_size=DEFAULT_FINGERPRINT_BYTES)
    knobs = (FORMAT_VERSION, doc.extracted, config.title_weight, config.bands, config.band_rows)
    # Each part with its length first: no two different inputs give the same bytes.
    for part in (repr(knobs), doc.title, doc.text, doc.language):
        if part is None:
            digest.update(_NONE)
            continue
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


def encode(found: Features) -> str:
    """``found`` as JSON: ``decode(encode(f)) == f``, floats bit for bit and every order kept
    (the term counts' order decides a vector's float sums)."""
    sk = found.sketch
    terms = found.terms
    return json.dumps(
        {
            "digest": found.digest,
            "signature": base64.b64encode(sk.to_bytes()).decode("ascii") if sk else None,
            "shingles": sk.shingles if sk else 0,
            "keys": found.keys,
            "counts": terms.counts if terms is not None else None,
            "proper": sorted(terms.proper) if terms is not None else None,
            "phrases": found.phrases,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(data: str) -> Features:
    """The ``Features`` ``encode`` wrote."""
    row = json.loads(data)
    signature = row["signature"]
    counts = row["counts"]
    return Features(
        digest=row["digest"],
        sketch=(
            Sketch.from_bytes(base64.b64decode(signature), row["shingles"])
            if signature is not None
            else None
        ),
        keys=row["keys"],
        terms=Terms(counts, frozenset(row["proper"])) if counts is not None else None,
        phrases=row["phrases"],
    )


def features_row(
    article_id: int, columns: Mapping[str, Any], config: StoryConfig
) -> dict[str, Any] | None:
    """The ``article_features`` row of an article about to be written with these ``columns``
    (``title``, ``text``, ``summary``, ``language``, ``status``: as ``written_doc``): its
    features as the story step would compute them, for ``store_features`` in the same
    transaction. Pure computation: run it before the transaction.

    None when they cannot be computed (logged): the story step computes them itself then."""
    try:
        doc = written_doc(article_id, columns)
        data = encode(features(doc, config, with_terms=True, with_phrases=True))
        data.encode("utf-8")  # what the database is sent: it must not fail the article's write
    except Exception:  # left to the story step, see above
        log.warning("story features of article %s not stored", article_id, exc_info=True)
        return None
    return {"article_id": article_id, "fingerprint": fingerprint(doc, config), "data": data}


def stored_features(
    doc: StoryDoc, config: StoryConfig, stored_fingerprint: bytes, data: str
) -> Features | None:
    """The features of a row read back (``fingerprint``, ``data``) if they are ``doc``'s under
    ``config``; None when the article or the configuration has changed since (or the row is
    unreadable): the caller computes them then."""
    if stored_fingerprint != fingerprint(doc, config):
        return None
    try:
        return decode(data)
    except Exception:  # a row no release of this code wrote: as if there were none
        log.warning("stored features of article %s unreadable", doc.id, exc_info=True)
        return None


def store_features(session: Session, row: dict[str, Any] | None) -> None:
    """Write an article's ``features_row`` (None: nothing), replacing any row it had: a task
    delivered twice leaves the row of the write that won."""
    if row is None:
        return
    session.execute(_upsert(session.get_bind().dialect.name), row)


def features_upsert_from(ids: Any) -> Any:
    """``store_features``' upsert on Postgres as part of a larger statement: the row of each
    id the one-column selectable ``ids`` gives (in practice one: the article just written),
    from the parameters ``_fingerprint`` and ``_data`` (``features_row``'s). For a
    data-modifying ``WITH`` that writes an article and its features in one round trip (its
    caller builds that statement once)."""
    fields = select(
        ids,
        bindparam("_fingerprint", type_=_TABLE.c.fingerprint.type),
        bindparam("_data", type_=_TABLE.c.data.type),
    )
    return _replacing(
        insert_for("postgresql", _TABLE).from_select(["article_id", "fingerprint", "data"], fields)
    )


@functools.cache
def _upsert(dialect: str) -> Executable:
    # Built once per dialect and executed with the row as its parameters: building the
    # upsert (its ``excluded`` columns above all) cost more Python than running it.
    return _replacing(insert_for(dialect, _TABLE))  # type: ignore[no-any-return]


def _replacing(insert: Any) -> Any:
    """``insert`` replacing the features an article has already (a redelivered task's)."""
    return insert.on_conflict_do_update(
        index_elements=[_TABLE.c.article_id],
        set_={"fingerprint": insert.excluded.fingerprint, "data": insert.excluded.data},
    )


def prune_features(session: Session, limit: int) -> int:
    """Delete up to ``limit`` rows of articles that have their story (the story step deletes
    its rows; this catches what a step did not, e.g. an original assigned for its copy)."""
    ids = list(
        session.scalars(
            select(ArticleFeatures.article_id)
            .join(Article, Article.id == ArticleFeatures.article_id)
            .where(Article.story_id.is_not(None))
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            delete(ArticleFeatures)
            .where(ArticleFeatures.article_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
    return len(ids)
