"""Plans of the story step's SQL on a real PostgreSQL, for tests that check how a statement
reads its parameters (not how fast it runs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, TextClause, text


def plan_conditions(
    engine: Engine, statement: TextClause, params: dict[str, Any], *, seqscan: bool
) -> tuple[list[str], list[str]]:
    """``EXPLAIN`` of ``statement`` with sequential scans allowed (a table too new to have
    statistics is read so) or not (a grown one, by its indexes): the plan's lines, and its
    filters and index conditions."""
    with engine.begin() as connection:
        connection.execute(text(f"SET LOCAL enable_seqscan = {'on' if seqscan else 'off'}"))
        plan = [row[0] for row in connection.execute(text(f"EXPLAIN {statement.text}"), params)]
    return plan, [line for line in plan if "Filter:" in line or "Cond:" in line]
