"""The array literals the held-back writes send, read back by a real PostgreSQL."""

from __future__ import annotations

import json
import sys

import pytest
from sqlalchemy import Engine, text

from models import make_engine
from tests.worker.stories.plans import plan_conditions
from worker.stories.sql_writes import DeferredWrites, float_array, int_array, text_array

AWKWARD_TEXTS = [
    "plain",
    "",
    "NULL",
    "null",
    'say "hi"',
    "back\\slash",
    "\\",
    '\\"',
    "a,b",
    "{braces}",
    "} , {",
    "  spaced  ",
    "tab\there\nnewline",
    "o'brien",
    "ünïcödé — 東京",
    "emoji 🛰",
]


@pytest.fixture
def read_back(pg_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(pg_url)

    def read(literal: str, pg_type: str) -> list[object]:
        with engine.connect() as connection:
            sql = text(f"SELECT CAST(CAST(:p AS text) AS {pg_type}[])")
            return list(connection.execute(sql, {"p": literal}).scalar_one())

    yield read
    engine.dispose()


def test_texts_read_back_unchanged(read_back) -> None:  # type: ignore[no-untyped-def]
    assert read_back(text_array(AWKWARD_TEXTS), "varchar") == AWKWARD_TEXTS
    # Each alone too: an element that is only a quote or a backslash ends the literal.
    for value in AWKWARD_TEXTS:
        assert read_back(text_array([value]), "text") == [value], value


def test_empty_arrays(read_back) -> None:  # type: ignore[no-untyped-def]
    assert read_back(text_array([]), "varchar") == []
    assert read_back(int_array([]), "bigint") == []
    assert read_back(float_array([]), "float8") == []


def test_integers_read_back_unchanged(read_back) -> None:  # type: ignore[no-untyped-def]
    values = [0, 1, -1, 2**63 - 1, -(2**63), 1234567890123]
    assert read_back(int_array(iter(values)), "bigint") == values


def test_floats_read_back_bit_for_bit(read_back) -> None:  # type: ignore[no-untyped-def]
    values = [0.1 + 0.2, 1 / 3, 5e-324, sys.float_info.max, -0.0674638033921222, 1e-05, 2.0]
    back = read_back(float_array(values), "float8")
    assert [v.hex() for v in back] == [v.hex() for v in values]


def test_json_values_read_back_unchanged(read_back) -> None:  # type: ignore[no-untyped-def]
    # JSON columns go as a literal of json.dumps texts: two layers of escaping to undo.
    values = [dict.fromkeys(AWKWARD_TEXTS, 1), AWKWARD_TEXTS, {"nested": {"q": '"', "b": "\\"}}, []]
    assert read_back(text_array([json.dumps(v) for v in values]), "jsonb") == values


def test_held_postings_follow_the_net_change() -> None:
    writes = DeferredWrites()
    writes.postings(1, gone=set(), added={"minsk": 0.5, "putin": 0.4})
    writes.postings(2, gone={"kyiv"}, added={"minsk": 0.3})
    assert writes.held_postings("minsk") == {1: 0.5, 2: 0.3}
    assert writes.is_stale(2, "kyiv") and writes.is_stale(1, "putin")
    assert not writes.is_stale(1, "kyiv")
    # A term that came in and left again is neither held nor stale for the table.
    writes.postings(1, gone={"putin"}, added={})
    assert writes.held_postings("putin") == {}
    assert not writes.is_stale(1, "putin")
    writes.forget_postings(2)  # a merge deleted story 2's rows
    assert writes.held_postings("minsk") == {1: 0.5}
    assert not writes.is_stale(2, "kyiv")
    writes.take()
    assert writes.held_postings("minsk") == {}


@pytest.mark.parametrize("seqscan", [True, False])
def test_features_delete_reads_its_ids_once(pg_engine: Engine, seqscan: bool) -> None:
    # Its ids are in a filter: a literal cast there at run time (``'{...}'::cstring``) would be
    # parsed again for every row a scan of article_features looks at.
    writes = DeferredWrites()
    writes.forget_features(range(1, 40))
    held = writes.take()
    assert held is not None
    statement, params = held
    plan, conditions = plan_conditions(pg_engine, statement, params, seqscan=seqscan)
    on_ids = [line for line in conditions if "article_id" in line]
    assert on_ids, plan
    assert not [line for line in on_ids if "::cstring" in line], plan
