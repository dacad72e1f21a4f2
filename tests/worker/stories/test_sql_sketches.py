"""The band-key lookup of a batch (``SketchIndex._read_bands_ahead``) on a real PostgreSQL: its
plan reads the keys' array literal once, not once per row of ``article_bands``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from models import make_engine
from tests.support.services import migrate
from worker.stories.sql_sketches import _PG_NEAR_BY_KEYS
from worker.stories.sql_writes import int_array


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    migrate(pg_url)
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("seqscan", ["on", "off"])
def test_band_keys_are_read_once_per_statement(pg_engine: Engine, seqscan: str) -> None:
    # A fresh table without statistics is scanned sequentially (the bench's plan); a grown,
    # analyzed one by its index. Either way the literal is parsed once, as an InitPlan, and
    # the scan compares each row with its result: never a cast of the literal per row.
    keys = list(range(-(2**62), -(2**62) + 900))
    with pg_engine.begin() as connection:
        connection.execute(text(f"SET LOCAL enable_seqscan = {seqscan}"))
        plan = [
            row[0]
            for row in connection.execute(
                text(f"EXPLAIN {_PG_NEAR_BY_KEYS.element.text}"), {"keys": int_array(keys)}
            )
        ]
    conditions = [line for line in plan if "Filter:" in line or "Cond:" in line]
    band_conditions = [line for line in conditions if "band_key" in line]
    assert band_conditions, plan
    assert not [line for line in band_conditions if "::cstring" in line or "{" in line], plan
    assert any("InitPlan" in line for line in plan), plan
