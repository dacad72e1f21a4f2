"""The postings lookup of the story step (``StoryProfiles._postings``) on a real PostgreSQL: its
plan reads the query's terms and the batch's changed stories once per statement, not once per
row it filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from tests.worker.stories.plans import plan_conditions
from worker.stories.sql_profiles import _PG_POSTINGS
from worker.stories.sql_writes import int_array, text_array


@pytest.mark.parametrize("seqscan", [True, False])
def test_postings_arrays_are_read_once_per_statement(pg_engine: Engine, seqscan: bool) -> None:
    # An array literal cast at run time (``'{...}'::cstring``) is parsed again for every row a
    # scan filters: on a young table (scanned, no statistics yet), once per posting stored.
    params = {
        "terms": text_array([f"term{i}" for i in range(20)]),
        "since": datetime(2026, 1, 1, tzinfo=UTC),
        "changed": int_array(range(1, 40)),
    }
    plan, conditions = plan_conditions(pg_engine, _PG_POSTINGS, params, seqscan=seqscan)
    on_arrays = [line for line in conditions if "ANY" in line]
    assert any("term" in line for line in on_arrays), plan
    assert any("id = ANY" in line for line in on_arrays), plan
    assert not [line for line in on_arrays if "::cstring" in line], plan
