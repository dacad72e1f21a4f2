"""The README documents every setting and every table column of the contract."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pytest

from models import (
    ArticleStatus,
    Base,
    ChangeKind,
    DateSource,
    ErrorClass,
    FeedStatus,
    FetchOutcome,
    RunKind,
    RunStatus,
    StoryMethod,
)
from worker.config import Settings, allowed

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
_PLAIN_NAMES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    env = _PLAIN_NAMES.get(field, f"STORYWIRE_{field.upper()}")
    assert f"`{env}`" in README


def _config_rows() -> dict[str, list[str]]:
    section = README.split("| variable | default | allowed | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| `")]
    return {cells[0].strip(" `"): [c.strip() for c in cells[1:]] for cells in rows}


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_shows_what_it_allows(field: str) -> None:
    # The same words the start-up error says for a value out of range (worker.config.allowed).
    env = _PLAIN_NAMES.get(field, f"STORYWIRE_{field.upper()}")
    row = _config_rows().get(env)
    assert row is not None, f"{env} has no row in the configuration table"
    assert row[1] == allowed(field)


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_every_column_is_documented(table: str) -> None:
    section = README.split(f"**`{table}`**", 1)
    assert len(section) == 2, f"table {table} has no section in the README"
    text = section[1].split("**`", 1)[0]
    for column in Base.metadata.tables[table].columns:
        if column.name in ("id", "created_at") and table != "changes":
            continue
        assert f"`{column.name}`" in text, f"{table}.{column.name} is not documented"


@pytest.mark.parametrize("view", ["v_articles", "v_stories"])
def test_every_view_column_is_documented(view: str, sqlite_url: str) -> None:
    from sqlalchemy import inspect

    from models import make_engine
    from tests.support.services import migrate

    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    columns = [c["name"] for c in inspect(engine).get_columns(view)]
    engine.dispose()
    section = README.split(f"**`{view}`**", 1)[1].split("\n\n**", 1)[0]
    documented = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert documented == columns


def _values_section() -> str:
    return README.split("### The values", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    "enum",
    [
        ChangeKind,
        FetchOutcome,
        ErrorClass,
        FeedStatus,
        ArticleStatus,
        RunKind,
        RunStatus,
        DateSource,
        StoryMethod,
    ],
    ids=lambda enum: enum.__name__,
)
def test_every_contract_value_is_documented(enum: type[StrEnum]) -> None:
    # Consumers branch on these strings: each one is in the README's list of values.
    section = _values_section()
    assert f"`{enum.__name__}`" in section
    missing = [member.value for member in enum if f"`{member.value}`" not in section]
    assert missing == []


def test_every_documented_change_kind_exists() -> None:
    table = _values_section().split("| kind | entity | payload |", 1)[1].split("\n\n", 1)[0]
    kinds = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert kinds == [kind.value for kind in ChangeKind]
