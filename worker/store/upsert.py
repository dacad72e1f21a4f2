"""Dialect-aware ``INSERT … ON CONFLICT DO NOTHING``: the primitive of every idempotent write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Column, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.base import Base


def dialect_insert(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` for the session's dialect, with ``on_conflict_do_*`` (Postgres or SQLite)."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """``dialect_insert`` by dialect name, for a statement built once per dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(
    session: Session,
    model: type[Base],
    values: dict[str, Any],
    conflict_columns: Sequence[str],
) -> tuple[int, bool]:
    """Insert a row unless one with the same natural key exists.

    Returns ``(id, created)``. Safe under concurrent delivery: two workers inserting the same
    key at once both get the one row's id, and exactly one of them sees ``created=True``.
    """
    table = cast(Table, model.__table__)
    id_column: Column[Any] = table.c.id
    stmt = (
        dialect_insert(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(id_column)
    )
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True
    key = [table.c[name] == values[name] for name in conflict_columns]
    existing = session.execute(select(id_column).where(*key)).scalar_one()
    return int(existing), False
