"""Story features stored by the article task and read by the story step (SQLite and Postgres).

The story step must assign exactly what it assigns when it computes the features itself; a
row is used only for the title, text, language and configuration it was computed from, and
the step deletes its batch's rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Article
from models import session_scope as scope
from models.story_state import ArticleFeatures
from tests.worker.stories.conftest import assert_same_features
from tests.worker.stories.test_batch import (
    EVERY_LAYER,
    MERGING,
    WITH_MERGES,
    Item,
    load,
    replay,
    snapshot,
)
from tests.worker.stories.texts import STRIKE, STRIKE_TITLE, VISIT_A, VISIT_A_TITLE
from worker.dedupe import content_hash
from worker.stories import DEFAULT_CONFIG, StoryConfig, features_row, store_features
from worker.stories.assigner import features
from worker.stories.docs import doc_of
from worker.stories.features_store import (
    decode,
    encode,
    fingerprint,
    prune_features,
    stored_features,
)
from worker.stories.index import StoryDoc
from worker.stories.step import assign_stories, waiting_docs


def store_as_the_article_task_does(
    sessions: sessionmaker[Session], ids: Sequence[int], config: StoryConfig = DEFAULT_CONFIG
) -> None:
    """Each article's row, computed from its columns as ``worker.pipeline.article`` does from
    the values it writes."""
    with scope(sessions) as s:
        for article in s.scalars(select(Article).where(Article.id.in_(ids))):
            columns = {
                "title": article.title,
                "text": article.text,
                "summary": article.summary,
                "language": article.language,
                "status": article.status,
            }
            store_features(s, features_row(article.id, columns, config))


def stored_rows(sessions: sessionmaker[Session]) -> dict[int, tuple[bytes, str]]:
    with scope(sessions) as s:
        rows = s.execute(
            select(ArticleFeatures.article_id, ArticleFeatures.fingerprint, ArticleFeatures.data)
        )
        return {r[0]: (r[1], r[2]) for r in rows}


DOCS = [
    StoryDoc(1, VISIT_A_TITLE, VISIT_A),
    StoryDoc(2, None, STRIKE, language="en"),
    StoryDoc(3, "Eine kurze Meldung", "Der Bundestag hat am Dienstag beraten.", language="de"),
    StoryDoc(4, STRIKE_TITLE, "Read more...", extracted=False),  # a failed page: no sketch
    StoryDoc(5, "Zahlen: 3,5 Prozent mehr", "Die Inflation stieg um 3,5 Prozent."),
    StoryDoc(6, None, None),
]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.id) for d in DOCS])
def test_encode_then_decode_gives_the_features_back(doc: StoryDoc) -> None:
    found = features(doc, DEFAULT_CONFIG, with_terms=True, with_phrases=True)
    assert_same_features(decode(encode(found)), found)


def test_the_fingerprint_changes_with_what_features_depend_on_only() -> None:
    doc = DOCS[0]
    same = fingerprint(doc, DEFAULT_CONFIG)
    assert len(same) == 20
    # Not the date, outlet or id, nor the time window: features do not depend on them.
    moved = StoryDoc(99, doc.title, doc.text, outlet="elsewhere.example", language=None)
    assert fingerprint(moved, DEFAULT_CONFIG.with_(window=DEFAULT_CONFIG.window * 2)) == same
    changed = [
        StoryDoc(1, doc.title + "!", doc.text),
        StoryDoc(1, doc.title, (doc.text or "") + " More."),
        StoryDoc(1, doc.title, doc.text, language="de"),
        StoryDoc(1, doc.title, doc.text, extracted=False),
        StoryDoc(1, None, doc.text),
        # The parts cannot run into each other: a title's end moved into the text.
        StoryDoc(1, doc.title[:-1], (doc.title or "")[-1] + (doc.text or "")),
    ]
    for other in changed:
        assert fingerprint(other, DEFAULT_CONFIG) != same, other
    for knob in ({"title_weight": 3.0}, {"bands": 16}, {"band_rows": 4}):
        assert fingerprint(doc, DEFAULT_CONFIG.with_(**knob)) != same, knob


@pytest.mark.parametrize(
    ("stream", "config"),
    [(EVERY_LAYER, DEFAULT_CONFIG), (WITH_MERGES, MERGING)],
    ids=["every-layer", "with-merges"],
)
@pytest.mark.parametrize("sizes", [(1,), (3, 1, 5, 2)], ids=["single", "mixed"])
def test_stored_features_assign_what_computed_ones_do(
    two_databases: tuple[sessionmaker[Session], sessionmaker[Session]],
    stream: list[Item],
    config: StoryConfig,
    sizes: tuple[int, ...],
) -> None:
    computed, stored = two_databases
    ids = load(computed, stream)
    assert load(stored, stream) == ids
    store_as_the_article_task_does(stored, ids, config)
    rows = stored_rows(stored)
    assert sorted(rows) == sorted(ids)
    with scope(stored) as s:
        docs = {a.id: doc_of(a) for a in s.scalars(select(Article))}
    # Each row is one the step will use: its fingerprint is the article's as stored.
    assert all(stored_features(docs[i], config, *rows[i]) is not None for i in ids)

    expected = replay(computed, ids, [1], config)
    assert replay(stored, ids, sizes, config) == expected
    before, after = snapshot(computed), snapshot(stored)
    for table in before:
        assert after[table] == before[table], table
    assert stored_rows(stored) == {}  # each batch deleted its rows


def test_a_row_is_used_for_the_text_it_was_computed_from_only(
    sessions: sessionmaker[Session],
) -> None:
    visit, strike, garbled = load(
        sessions,
        [
            (VISIT_A_TITLE, VISIT_A, 0.0, "a.example", None),
            (STRIKE_TITLE, STRIKE, 1.0, "b.example", None),
            (STRIKE_TITLE, STRIKE, 2.0, "c.example", None),
        ],
    )
    store_as_the_article_task_does(sessions, [visit, strike, garbled])
    with scope(sessions) as s:
        # The strike's features under the visit's fingerprint: the step writes the content
        # hash it is given, so it shows which features it used.
        strike_data = s.get(ArticleFeatures, strike).data  # type: ignore[union-attr]
        s.execute(
            update(ArticleFeatures)
            .where(ArticleFeatures.article_id == visit)
            .values(data=strike_data)
        )
        # The strike's text changed after its row was written (a stale row) ...
        s.execute(update(Article).where(Article.id == strike).values(text=VISIT_A))
        # ... and a row with the right fingerprint that nothing can read.
        s.execute(
            update(ArticleFeatures)
            .where(ArticleFeatures.article_id == garbled)
            .values(data="{not json")
        )
    with scope(sessions) as s:
        results = assign_stories(s, [visit, strike, garbled])
        assert all(r is not None for r in results)
        hashes = {a.id: a.content_hash for a in s.scalars(select(Article))}
    assert hashes[visit] == content_hash(STRIKE)  # the row was used: its fingerprint matched
    assert hashes[strike] == content_hash(VISIT_A)  # computed from the text as it is now
    assert hashes[garbled] == content_hash(STRIKE)  # computed again
    assert stored_rows(sessions) == {}


def test_a_row_is_not_used_under_another_configuration(
    sessions: sessionmaker[Session],
) -> None:
    visit, strike = load(
        sessions,
        [
            (VISIT_A_TITLE, VISIT_A, 0.0, "a.example", None),
            (STRIKE_TITLE, STRIKE, 1.0, "b.example", None),
        ],
    )
    # Written by a worker configured with other LSH bands, then given the strike's
    # features: used, they would give the visit the strike's hash.
    store_as_the_article_task_does(sessions, [visit, strike], DEFAULT_CONFIG.with_(bands=16))
    with scope(sessions) as s:
        strike_data = s.get(ArticleFeatures, strike).data  # type: ignore[union-attr]
        s.execute(update(ArticleFeatures).values(data=strike_data))
    with scope(sessions) as s:
        assign_stories(s, [visit], DEFAULT_CONFIG)
        assert s.get(Article, visit).content_hash == content_hash(VISIT_A)  # type: ignore[union-attr]


def test_articles_with_stored_features_are_not_prepared_again(
    sessions: sessionmaker[Session],
) -> None:
    stored, bare = load(
        sessions,
        [
            (VISIT_A_TITLE, VISIT_A, 0.0, "a.example", None),
            (STRIKE_TITLE, STRIKE, 1.0, "b.example", None),
        ],
    )
    store_as_the_article_task_does(sessions, [stored])
    with scope(sessions) as s:
        assert [d.id for d in waiting_docs(s, [stored, bare])] == [bare]


def test_rows_beside_articles_with_a_story_are_pruned(sessions: sessionmaker[Session]) -> None:
    done, waiting = load(
        sessions,
        [
            (VISIT_A_TITLE, VISIT_A, 0.0, "a.example", None),
            (STRIKE_TITLE, STRIKE, 1.0, "b.example", None),
        ],
    )
    with scope(sessions) as s:
        assign_stories(s, [done])
    # A row the step did not read (written after it, as a stray redelivery could).
    store_as_the_article_task_does(sessions, [done, waiting])
    with scope(sessions) as s:
        assert prune_features(s, 10) == 1
    assert list(stored_rows(sessions)) == [waiting]
    # Deleted with its article (as retention deletes it): nothing outlives the article.
    with scope(sessions) as s:
        s.execute(delete(Article).where(Article.id == waiting))
    with scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(ArticleFeatures)) == 0
