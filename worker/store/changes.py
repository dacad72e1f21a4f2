"""The outbox: one ``changes`` row per fact, in the fact's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models import Change

#: Version of the payload layout; consumers check it before reading fields.
PAYLOAD_SCHEMA_VERSION = 1


def record_change(session: Session, kind: str, entity_id: int, **payload: Any) -> None:
    """Add a change row, e.g. ``record_change(s, "article.created", 42, url=...)``."""
    session.add(
        Change(kind=kind, entity_id=entity_id, payload={"v": PAYLOAD_SCHEMA_VERSION, **payload})
    )
