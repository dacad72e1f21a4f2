"""The outbox: one ``changes`` row per fact, in the fact's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models import Change

#: Version of the payload layout; consumers check it before reading fields.
PAYLOAD_SCHEMA_VERSION = 1
#: Advisory lock under which Postgres assigns change ids at commit (0002 migration).
CHANGES_COMMIT_LOCK_KEY = 0x5707_C4A6
#: Channel NOTIFYed by every commit that adds changes (Postgres only; a wake-up hint).
NOTIFY_CHANNEL = "storywire_changes"


def record_change(session: Session, kind: str, entity_id: int, **payload: Any) -> None:
    """Add a change row, e.g. ``record_change(s, "article.created", 42, url=...)``."""
    session.add(Change(kind=kind, entity_id=entity_id, payload=change_payload(**payload)))


def change_payload(**facts: Any) -> dict[str, Any]:
    """A change's JSON payload: the facts, stamped with the payload layout version."""
    return {"v": PAYLOAD_SCHEMA_VERSION, **facts}
