"""``storywire cluster`` on lines that passed its own check and then crashed the store
(issue 15, item 3): each is now reported as ``FILE:LINE: why``, nothing is stored, the exit
status is not 0, and no traceback is printed.

The real command on a real PostgreSQL database (``--database-url``), where NUL was a
``DataError`` half-way through a file that had already stored its first batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Article, Change, Run, make_engine
from tests.support.processes import run_storywire, storywire_env
from tests.support.services import migrate

GOOD = {"id": "ok", "title": "Bridge closed", "text": "The river bridge is closed for repairs."}

# (line as written to the file, the words its error must contain)
HOSTILE_LINES = [
    (json.dumps({**GOOD, "id": "nul", "text": "before\u0000after"}), '"text" contains a NUL'),
    (json.dumps({**GOOD, "id": "sur", "title": "\ud800"}), '"title" contains a lone surrogate'),
    (json.dumps({**GOOD, "id": "\udfff"}), '"id" contains a lone surrogate'),
    (json.dumps({**GOOD, "id": "src", "source": "A\u0000B"}), '"source" contains a NUL'),
    (
        json.dumps({**GOOD, "id": "late", "published_at": "9999-12-31T23:59:59-14:00"}),
        "published_at '9999-12-31T23:59:59-14:00' is out of range",
    ),
    (
        json.dumps({**GOOD, "id": "early", "published_at": "0001-01-01T00:00:00+14:00"}),
        "is out of range",
    ),
    ('{"id": ' + "9" * 5000 + ', "text": "digits"}', "not JSON this reader accepts"),
    ('{"id": "deep", "text": "x", "extra": ' + "[" * 100_000 + "}", "nested too deeply"),
    ('{"id": 1e999, "text": "infinite id"}', 'an object with an "id"'),
    ('{"id": "nan", "text": "x", "extra": NaN}', "NaN is not a JSON value"),
]


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_hostile_lines_are_reported_and_nothing_is_stored(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("pg_url" if database == "postgres" else "sqlite_url"))
    migrate(url)
    # 600 good lines first: more than one store batch (500), which used to be committed
    # before the bad line further down failed.
    good = [json.dumps({**GOOD, "id": f"good-{n}", "text": f"Story {n}."}) for n in range(600)]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join([*good, *(line for line, _ in HOSTILE_LINES)]) + "\n")

    done = run_storywire(
        ["cluster", str(path), "--database-url", url],
        storywire_env(STORYWIRE_DATA_DIR=str(tmp_path / "data")),
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    errors = done.stderr.splitlines()
    for number, (_, why) in enumerate(HOSTILE_LINES, start=len(good) + 1):
        reported = [e for e in errors if e.startswith(f"{path}:{number}: ")]
        assert len(reported) == 1, (number, why, done.stderr[-3000:])
        assert why in reported[0]
    assert (
        errors[-1] == f"error: {path}: {len(HOSTILE_LINES)} unusable lines; nothing was clustered"
    )
    engine = make_engine(url)
    with engine.connect() as conn:
        for table in (Article, Change, Run):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    engine.dispose()


def test_urls_too_long_for_a_key_are_clustered_under_another(tmp_path: Path, pg_url: str) -> None:
    # Under the 4,096-character URL limit, yet too long for PostgreSQL's unique index once
    # canonical (percent-encoding triples "é"): the store used to fail half-way.
    long_ascii = "https://news.example/" + "".join(f"{n:x}" for n in range(1_200))[:4_000]
    long_encoded = "https://news.example/" + "é" * 1_500
    path = tmp_path / "long-urls.jsonl"
    lines = [
        {"id": "a", "title": "Harbour", "text": "The harbour reopened today.", "url": long_ascii},
        {"id": "b", "title": "Harbour", "text": "The harbour reopened today!", "url": long_encoded},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = run_storywire(
        ["cluster", str(path), "--database-url", pg_url],
        storywire_env(STORYWIRE_DATA_DIR=str(tmp_path / "data")),
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["a", "b"]
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        stored = conn.execute(select(Article.url, Article.canonical_url)).all()
    engine.dispose()
    assert {url for url, _ in stored} == {long_ascii, long_encoded}  # as given
    assert all(len(key.encode()) <= 2048 for _, key in stored)
