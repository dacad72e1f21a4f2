"""The outbox: one ``changes`` row per fact, in the fact's own transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from models import Change, ChangeKind

#: Version of the payload layout; consumers check it before reading fields.
PAYLOAD_SCHEMA_VERSION = 1
#: Advisory lock under which Postgres assigns change ids at commit (0002 migration).
CHANGES_COMMIT_LOCK_KEY = 0x5707_C4A6
#: Channel NOTIFYed by every commit that adds changes (Postgres only; a wake-up hint).
NOTIFY_CHANNEL = "storywire_changes"


def record_change(session: Session, kind: ChangeKind, entity_id: int, **payload: Any) -> None:
    """Add a change row, e.g. ``record_change(s, ChangeKind.ARTICLE_CREATED, 42, url=...)``."""
    session.add(Change(kind=kind, entity_id=entity_id, payload=change_payload(**payload)))


def record_changes(
    session: Session, changes: Sequence[tuple[ChangeKind, int, dict[str, Any]]]
) -> None:
    """Many change rows in one round trip, in this order: ``[(kind, entity_id, facts), ...]``
    (``record_change`` adds ORM objects, which SQLite inserts one statement each)."""
    if changes:
        rows = [
            {"kind": kind, "entity_id": entity_id, "payload": change_payload(**facts)}
            for kind, entity_id, facts in changes
        ]
        session.execute(insert(cast(Table, Change.__table__)), rows)


def change_payload(**facts: Any) -> dict[str, Any]:
    """A change's JSON payload: the facts, stamped with the payload layout version."""
    return {"v": PAYLOAD_SCHEMA_VERSION, **facts}
