"""The SQL statements an engine sends, for tests that count round trips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event


@contextmanager
def sql_statements(engine: Engine) -> Iterator[list[str]]:
    """The statements ``engine`` sends inside the block, in order, without transaction
    control (``BEGIN``, SQLite's ``PRAGMA``s): what costs a round trip of its own."""
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
