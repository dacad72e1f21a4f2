"""The band-key lookup of a batch (``SketchIndex._read_bands_ahead``) on a real PostgreSQL: its
plan reads the keys' array literal once, not once per row of ``article_bands``."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.worker.stories.plans import plan_conditions
from worker.stories.sql_sketches import _PG_NEAR_BY_KEYS
from worker.stories.sql_writes import int_array


@pytest.mark.parametrize("seqscan", [True, False])
def test_band_keys_are_read_once_per_statement(pg_engine: Engine, seqscan: bool) -> None:
    # The literal is parsed once, by an InitPlan, and each row compared with its result;
    # inline, it was cast again for every row a sequential scan looked at.
    keys = int_array(range(-(2**62), -(2**62) + 900))
    plan, conditions = plan_conditions(
        pg_engine, _PG_NEAR_BY_KEYS.element, {"keys": keys}, seqscan=seqscan
    )
    on_keys = [line for line in conditions if "band_key" in line]
    assert on_keys, plan
    assert not [line for line in on_keys if "::cstring" in line], plan
    assert any("InitPlan" in line for line in plan), plan
