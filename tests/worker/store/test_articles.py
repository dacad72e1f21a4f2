"""Both article writers number a statement's rows the same way: per row, in order, its
article and whether this statement created it, with one change per fact."""

from __future__ import annotations

from sqlalchemy import func, select

from models import Change, ChangeKind, session_scope
from worker.resources import Resources
from worker.store import (
    Document,
    SourceFields,
    Stub,
    add_feed,
    insert_documents,
    upsert_article_stubs,
)

A, B, C, D = (f"https://news.example/{name}" for name in "abcd")


def _stub(url: str) -> Stub:
    return Stub(url, url, SourceFields(title=url))


def _doc(url: str) -> Document:
    return Document(url, url, "Title", "Text.", None, None, None)


def _last_change(rt: Resources) -> int:
    # Read in a transaction of its own: on Postgres change ids are given at commit.
    with session_scope(rt.sessions) as s:
        return int(s.scalar(select(func.coalesce(func.max(Change.id), 0))) or 0)


def _changes_since(rt: Resources, after: int) -> list[tuple[str, int, dict[str, object]]]:
    with session_scope(rt.sessions) as s:
        rows = s.scalars(select(Change).where(Change.id > after).order_by(Change.id))
        return [(c.kind, c.entity_id, c.payload) for c in rows]


def _feeds(rt: Resources) -> tuple[int, int]:
    with session_scope(rt.sessions) as s:
        first = add_feed(s, "https://news.example/feed.xml")[0].id
        second = add_feed(s, "https://other.example/feed.xml")[0].id
    return first, second


def test_a_key_repeated_in_one_statement_is_created_once(rt: Resources) -> None:
    first_feed, second_feed = _feeds(rt)
    before = _last_change(rt)
    with session_scope(rt.sessions) as s:
        stubs = [_stub(A), _stub(B), _stub(A)]
        (a, a_created), (b, b_created), repeated = upsert_article_stubs(
            s, feed_id=first_feed, stubs=stubs
        )
    assert (a_created, b_created, repeated) == (True, True, (a, False))
    assert a < b  # ids in the order given
    assert [(kind, entity) for kind, entity, _ in _changes_since(rt, before)] == [
        (ChangeKind.ARTICLE_CREATED, a),
        (ChangeKind.ARTICLE_CREATED, b),
    ]

    before = _last_change(rt)
    with session_scope(rt.sessions) as s:
        (b_again, created_b), (c, created_c) = upsert_article_stubs(
            s, feed_id=second_feed, stubs=[_stub(B), _stub(C)]
        )
    assert (b_again, created_b, created_c) == (b, False, True)
    assert [(kind, entity) for kind, entity, _ in _changes_since(rt, before)] == [
        (ChangeKind.ARTICLE_SOURCE_ADDED, b),
        (ChangeKind.ARTICLE_CREATED, c),
    ]


def test_documents_are_numbered_like_stubs(rt: Resources) -> None:
    feed_id, _ = _feeds(rt)
    with session_scope(rt.sessions) as s:
        ((a, _),) = upsert_article_stubs(s, feed_id=feed_id, stubs=[_stub(A)])
    before = _last_change(rt)
    with session_scope(rt.sessions) as s:
        results = insert_documents(s, [_doc(D), _doc(A), _doc(D)])
    d = results[0][0]
    assert results == [(d, True), (a, False), (d, False)]
    assert _changes_since(rt, before) == [
        (ChangeKind.ARTICLE_CREATED, d, {"v": 1, "url": D, "feed_id": None, "run_id": None})
    ]
