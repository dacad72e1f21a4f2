"""``storywire cluster``'s backfill: one output line per input document (none lost, none
doubled), and its articles created as a feed's entries are."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models import Change, ChangeKind, session_scope
from tests.worker.stories.texts import BRIDGE_LOCAL, BRIDGE_WIRE, STRIKE
from worker.pipeline import backfill as backfill_module
from worker.pipeline.backfill import backfill
from worker.pipeline.backfill_input import BackfillDoc, publication_order
from worker.resources import Resources
from worker.store import Provenance, SourceFields, add_feed, upsert_article_stub


def _doc(ident: str, text: str, hours: int, url: str | None = None) -> BackfillDoc:
    when = datetime(2024, 5, 6, hours, tzinfo=UTC)
    return BackfillDoc(id=ident, title="", text=text, published_at=when, url=url)


def test_every_document_gets_its_own_output_line(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stored and read back in chunks (a statement's parameters are bounded): of 2 here.
    monkeypatch.setattr(backfill_module, "DEFAULT_READ_CHUNK", 2)
    monkeypatch.setattr(backfill_module, "DEFAULT_STORE_BATCH", 2)  # stored 2 a transaction
    docs = [
        _doc("wire", BRIDGE_WIRE, 1, "https://wire.example/bridge"),
        _doc("wire-again", BRIDGE_WIRE, 2, "https://wire.example/bridge?utm_source=x"),
        _doc("local", BRIDGE_LOCAL, 3),
        _doc("strike", STRIKE, 4),
        _doc("copy", BRIDGE_WIRE, 5),
    ]
    results = backfill(resources.sessions, publication_order(docs))
    assert [r.id for r in results] == ["wire", "wire-again", "local", "strike", "copy"]
    story = {r.id: r.story_id for r in results}
    original = {r.id: r.duplicate_of for r in results}
    # The same URL under another id is the same article (layer 1): a copy of the first id.
    assert (story["wire-again"], original["wire-again"]) == (story["wire"], "wire")
    assert (story["copy"], original["copy"]) == (story["wire"], "wire")  # same text (layer 2)
    assert story["local"] == story["wire"] and original["local"] is None  # same event
    assert story["strike"] != story["wire"] and original["strike"] is None


def test_a_document_is_created_with_the_change_a_feed_entry_gets(resources: Resources) -> None:
    # One writer (worker.store.articles), one article.created payload, whoever creates it.
    with session_scope(resources.sessions) as s:
        feed, _ = add_feed(s, "https://feeds.example/rss")
        upsert_article_stub(
            s,
            feed_id=feed.id,
            canonical_url="https://news.example/a",
            url="https://news.example/a",
            source=SourceFields(title="A"),
            provenance=Provenance(run_id=None),
        )
    backfill(resources.sessions, [_doc("b", STRIKE, 1, "https://news.example/b")])
    with session_scope(resources.sessions) as s:
        entry, document = s.scalars(
            select(Change.payload)
            .where(Change.kind == ChangeKind.ARTICLE_CREATED)
            .order_by(Change.id)
        ).all()
    assert entry == {"v": 1, "url": "https://news.example/a", "feed_id": feed.id, "run_id": None}
    assert document == {"v": 1, "url": "https://news.example/b", "feed_id": None, "run_id": None}
