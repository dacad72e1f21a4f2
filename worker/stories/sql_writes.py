"""The story step's writes on Postgres, held back and sent as one statement.

Usage (``SqlStoryIndex`` does this; nothing else needs to)::

    writes = DeferredWrites()
    writes.add_sketch({"article_id": 7, "signature": b"...", "shingles": 90,
                       "published_at": when, "keys": [12, 34]})
    writes.count_terms(["", "minsk", "putin"])
    writes.update(row, "stories", 3, {"article_count": 4})
    writes.postings(3, gone={"old"}, added={"minsk": 0.4})
    writes.change({"kind": "story.updated", "entity_id": 3, "payload": {...}})
    writes.forget_features([7, 8])  # their article_features rows, read by the batch
    held = writes.take()           # None when nothing is held; else one statement, its parameters
    session.execute(*held)

Why: a story step is mostly small writes to six tables, and on a loopback connection the
round trips cost more than the rows. Everything a batch of articles writes goes out as one
statement of data-modifying CTEs. The parts of one statement all see the same snapshot, so no
row may be written twice in it: repeated updates of a row are merged into one, term counts are
summed, and a story's postings are kept as the net change since the last statement (terms to
delete, terms to insert or re-weigh: disjoint sets), never a delete and an insert of one row.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import TextClause

from models import Article, Change, Story
from models.story_state import ArticleSketch, StoryProfile
from models.types import utcnow

_SKETCHES = cast(Table, ArticleSketch.__table__)
_PROFILES = cast(Table, StoryProfile.__table__)
_STORIES = cast(Table, Story.__table__)
# What a new story's row is written with (created_at and updated_at: the statement's time).
_NEW_STORY_COLUMNS = (
    "id",
    "headline",
    "first_published_at",
    "last_published_at",
    "article_count",
    "outlet_count",
    "keywords",
    "language",
    "merged_into",
)
_NEW_PROFILE_COLUMNS = ("story_id", "phrases", "outlets", "centroid")
_CHANGES = cast(Table, Change.__table__)
_POSTGRES = postgresql.dialect()  # type: ignore[no-untyped-call]
_TABLES = {t.name: t for t in (_STORIES, cast(Table, Article.__table__), _PROFILES)}

# Arrays as parameters: one statement text whatever the number of rows. The long ones (band
# keys, term counts, postings: thousands of elements a batch) go as array literals built here,
# ``CAST(CAST(:p AS text) AS bigint[])``: psycopg dumps a Python list element by element (a
# regex test per element to decide its quoting), ~1.5 us each, 4x the cost of the literal.
_SKETCH_WRITES = (
    "INSERT INTO article_sketches (article_id, signature, shingles, published_at)"
    " SELECT * FROM unnest(CAST(:sk_ids AS bigint[]), CAST(:sk_signatures AS bytea[]),"
    " CAST(:sk_shingles AS integer[]), CAST(:sk_published AS timestamptz[]))",
    "INSERT INTO article_bands (band_key, article_id) SELECT * FROM unnest("
    "CAST(CAST(:band_keys AS text) AS bigint[]), CAST(CAST(:band_ids AS text) AS bigint[]))",
)
# Sorted terms: concurrent writers (should the story-step lock ever be bypassed) take the row
# locks in one order.
_COUNT_TERMS = (
    "INSERT INTO term_stats (term, df) SELECT * FROM unnest("
    "CAST(CAST(:df_terms AS text) AS varchar[]), CAST(CAST(:df_counts AS text) AS bigint[]))"
    " ON CONFLICT (term) DO UPDATE SET df = term_stats.df + excluded.df"
)


def int_array(values: Iterable[int]) -> str:
    """A Postgres array literal of integers, e.g. ``int_array([1, 2]) == "{1,2}"``."""
    return "{" + ",".join(map(str, values)) + "}"


def float_array(values: Iterable[float]) -> str:
    """A Postgres array literal of floats; ``repr`` is the shortest text that reads back as
    the same double, and Postgres (12+) reads it exactly."""
    return "{" + ",".join(map(repr, values)) + "}"


def text_array(values: Collection[str]) -> str:
    """A Postgres array literal of strings, each quoted: ``text_array(['a"b']) == '{"a\\"b"}'``.

    Inside double quotes only a backslash and a double quote need escaping (by a backslash);
    commas, braces, spaces and the word NULL are then plain characters."""
    if not values:
        return "{}"
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + '","'.join(quoted) + '"}'


class DeferredWrites:
    """What the story step has written since the last statement, merged per row."""

    def __init__(self) -> None:
        self.sketches: list[dict[str, Any]] = []
        self.terms: Counter[str] = Counter()
        # (table, key) -> (the ORM row, its new column values); the row already holds them.
        self.updates: dict[tuple[str, int], tuple[object, dict[str, Any]]] = {}
        # Rows to insert whole (their ids handed out already): later changes go to the object.
        self.new_stories: dict[int, Story] = {}
        self.new_profiles: dict[int, StoryProfile] = {}
        # story -> terms of the table that left / terms to insert or re-weigh
        self.gone: dict[int, set[str]] = {}
        self.added: dict[int, dict[str, float]] = {}
        # The same inserts by term (term -> story -> weight): a postings read looks up the
        # query's ~20 terms here instead of walking every story the batch changed.
        self._added_by_term: dict[str, dict[int, float]] = {}
        self.changes: list[dict[str, Any]] = []
        self.features_read: list[int] = []

    def __bool__(self) -> bool:
        return bool(
            self.sketches
            or self.terms
            or self.updates
            or self.new_stories
            or self.new_profiles
            or self.gone
            or self.added
            or self.changes
            or self.features_read
        )

    def add_sketch(self, row: dict[str, Any]) -> None:
        """A sketch row (``article_id``, ``signature``, ``shingles``, ``published_at``) and
        its band ``keys``."""
        self.sketches.append(row)

    def count_terms(self, terms: list[str]) -> None:
        """One more document holding each of ``terms`` (distinct)."""
        self.terms.update(terms)

    def is_new(self, row: object) -> bool:
        """Whether ``row`` is to be inserted whole (change the object, not the table)."""
        if isinstance(row, Story):
            return row.id in self.new_stories
        return isinstance(row, StoryProfile) and row.story_id in self.new_profiles

    def update(self, row: object, table: str, key: int, values: dict[str, Any]) -> None:
        self.updates.setdefault((table, key), (row, {}))[1].update(values)

    def held_values(self, table: str, key: int) -> dict[str, Any]:
        """The new column values held back for a row (empty: none)."""
        held = self.updates.get((table, key))
        return {} if held is None else held[1]

    def updated_row(self, table: str, key: int) -> object | None:
        """The row with writes held back for it, if any."""
        held = self.updates.get((table, key))
        return None if held is None else held[0]

    def postings(self, story_id: int, gone: AbstractSet[str], added: dict[str, float]) -> None:
        """The story's postings changed: ``gone`` left, ``added`` came in (with their weight).

        ``gone`` only holds terms the story holds now, ``added`` only terms it does not."""
        deleted = self.gone.setdefault(story_id, set())
        inserted = self.added.setdefault(story_id, {})
        by_term = self._added_by_term
        for term in gone:
            # A term that came in since the last statement is not in the table (or is already
            # in ``deleted``, when it left and came back): only the table's own terms go there.
            if inserted.pop(term, None) is None:
                deleted.add(term)
            else:
                del by_term[term][story_id]
        inserted.update(added)
        for term, weight in added.items():
            by_term.setdefault(term, {})[story_id] = weight

    def forget_postings(self, story_id: int) -> None:
        """Write none of the story's postings: its rows are deleted already (a merge)."""
        self.gone.pop(story_id, None)
        for term in self.added.pop(story_id, {}):
            del self._added_by_term[term][story_id]

    def is_stale(self, story_id: int, term: str) -> bool:
        """Whether the table's posting of ``term`` for the story is out of date (it left the
        story, or it is re-weighed / inserted by a held-back row)."""
        return term in self.gone.get(story_id, ()) or term in self.added.get(story_id, ())

    def held_postings(self, term: str) -> dict[int, float]:
        """The held-back postings of ``term``: story -> weight (do not modify)."""
        return self._added_by_term.get(term, {})

    def change(self, row: dict[str, Any]) -> None:
        self.changes.append(row)

    def forget_features(self, article_ids: Iterable[int]) -> None:
        """Delete these articles' ``article_features`` rows (the batch has read them)."""
        self.features_read.extend(article_ids)

    def take(self) -> tuple[TextClause, dict[str, Any]] | None:
        """One statement and its parameters with every held write (which are then forgotten);
        None when nothing is held."""
        writes: list[str] = []
        params: dict[str, Any] = {}
        if self.sketches:
            writes.extend(_SKETCH_WRITES)
            params["sk_ids"] = [s["article_id"] for s in self.sketches]
            params["sk_signatures"] = [s["signature"] for s in self.sketches]
            params["sk_shingles"] = [s["shingles"] for s in self.sketches]
            # timestamptz[]: aware datetimes only (as UTCDateTime insists for one value)
            params["sk_published"] = [_aware(s["published_at"]) for s in self.sketches]
            params["band_keys"] = int_array(k for s in self.sketches for k in s["keys"])
            params["band_ids"] = int_array(
                s["article_id"] for s in self.sketches for _ in s["keys"]
            )
        if self.terms:
            ordered = sorted(self.terms)
            writes.append(_COUNT_TERMS)
            params["df_terms"] = text_array(ordered)
            params["df_counts"] = int_array(self.terms[t] for t in ordered)
        now = utcnow()
        # The rows of one table that change the same columns: one UPDATE from arrays.
        groups: dict[tuple[str, tuple[str, ...]], list[tuple[int, dict[str, Any]]]] = {}
        for (table_name, key), (_row, values) in self.updates.items():
            groups.setdefault((table_name, tuple(sorted(values))), []).append((key, values))
        for n, ((table_name, columns), rows) in enumerate(groups.items()):
            table = _TABLES[table_name]
            pk = table.primary_key.columns.values()[0].name
            params[f"g{n}_key"] = [key for key, _ in rows]
            arrays = [f"CAST(:g{n}_key AS bigint[])"]
            for column in columns:
                held = [v[column] for _, v in rows]
                arrays.append(_array_param(params, f"g{n}_{column}", table, column, held))
            sets = [f"{column} = v.{column}" for column in columns]
            if "updated_at" in table.c:
                sets.append("updated_at = :now")
            # Names from the tables' metadata, values as parameters (so for S608 below).
            writes.append(
                f"UPDATE {table_name} SET {', '.join(sets)}"  # noqa: S608
                f" FROM unnest({', '.join(arrays)}) AS v(row_key, {', '.join(columns)})"
                f" WHERE {table_name}.{pk} = v.row_key"
            )
        if self.new_stories:
            stories = list(self.new_stories.values())
            writes.append(_insert(params, "ns", _STORIES, _NEW_STORY_COLUMNS, stories, now=True))
        if self.new_profiles:
            profiles = list(self.new_profiles.values())
            writes.append(_insert(params, "np", _PROFILES, _NEW_PROFILE_COLUMNS, profiles))
        gone_rows: list[tuple[int, str]] = []
        added_rows: list[tuple[int, str, float]] = []
        for story_id in sorted(self.gone.keys() | self.added.keys()):
            # A term that left and came back is re-weighed by the upsert, not deleted.
            added = self.added.get(story_id, {})
            gone_rows.extend(
                (story_id, t) for t in sorted(self.gone.get(story_id, set()) - added.keys())
            )
            added_rows.extend((story_id, t, w) for t, w in added.items())
        if gone_rows:
            params["pg_ids"] = int_array(r[0] for r in gone_rows)
            params["pg_terms"] = text_array([r[1] for r in gone_rows])
            writes.append(
                "DELETE FROM story_terms USING unnest(CAST(CAST(:pg_ids AS text) AS bigint[]),"
                " CAST(CAST(:pg_terms AS text) AS varchar[])) AS g(story_id, term)"
                " WHERE story_terms.story_id = g.story_id AND story_terms.term = g.term"
            )
        if added_rows:
            params["pa_ids"] = int_array(r[0] for r in added_rows)
            params["pa_terms"] = text_array([r[1] for r in added_rows])
            params["pa_weights"] = float_array(r[2] for r in added_rows)
            writes.append(
                "INSERT INTO story_terms (story_id, term, weight) SELECT * FROM unnest("
                "CAST(CAST(:pa_ids AS text) AS bigint[]),"
                " CAST(CAST(:pa_terms AS text) AS varchar[]),"
                " CAST(CAST(:pa_weights AS text) AS float8[]))"
                " ON CONFLICT (story_id, term) DO UPDATE SET weight = excluded.weight"
            )
        if self.changes:
            params["ch_kinds"] = [c["kind"] for c in self.changes]
            params["ch_ids"] = [c["entity_id"] for c in self.changes]
            params["ch_payloads"] = text_array([json.dumps(c["payload"]) for c in self.changes])
            # In the order recorded: ids are handed out in row order, then kept (0002).
            writes.append(
                "INSERT INTO changes (kind, entity_id, payload, created_at)"
                " SELECT c.kind, c.entity_id, c.payload, :now FROM unnest("
                " CAST(:ch_kinds AS varchar[]), CAST(:ch_ids AS bigint[]),"
                " CAST(CAST(:ch_payloads AS text) AS jsonb[]))"
                " WITH ORDINALITY AS c(kind, entity_id, payload, n)"
                " ORDER BY c.n"
            )
        if self.features_read:
            params["af_ids"] = int_array(sorted(set(self.features_read)))
            # A filter, not a FROM: the parameter is typed as the array (parsed once), not a
            # text cast at run time, which a generic plan would redo for every row it scans.
            writes.append(
                "DELETE FROM article_features WHERE article_id = ANY(CAST(:af_ids AS bigint[]))"
            )
        self._clear()
        if not writes:
            return None
        if len(writes) == 1:
            sql = writes[0]
        else:
            sql = "WITH " + ", ".join(f"w{i} AS ({w})" for i, w in enumerate(writes[1:]))
            sql += " " + writes[0]
        if ":now" not in sql:
            return text(sql), params
        params["now"] = now
        return text(sql).bindparams(bindparam("now", type_=_CHANGES.c.created_at.type)), params

    def _clear(self) -> None:
        self.sketches.clear()
        self.terms.clear()
        self.updates.clear()
        self.new_stories.clear()
        self.new_profiles.clear()
        self.gone.clear()
        self.added.clear()
        self._added_by_term.clear()
        self.changes.clear()
        self.features_read.clear()


def _insert(
    params: dict[str, Any],
    prefix: str,
    table: Table,
    columns: tuple[str, ...],
    rows: list[Any],
    *,
    now: bool = False,
) -> str:
    """An INSERT of whole ORM ``rows`` from one array per column (``now``: created_at and
    updated_at are the statement's time)."""
    unnested = ", ".join(
        _array_param(params, f"{prefix}_{c}", table, c, [getattr(r, c) for r in rows])
        for c in columns
    )
    names = ", ".join(columns)
    times = (", created_at, updated_at", ", :now, :now") if now else ("", "")
    # Names from the table's metadata, values as parameters (so for S608 below).
    return (
        f"INSERT INTO {table.name} ({names}{times[0]})"  # noqa: S608
        f" SELECT *{times[1]} FROM unnest({unnested})"
    )


def _array_param(
    params: dict[str, Any], name: str, table: Table, column: str, values: list[Any]
) -> str:
    """Put a column's ``values`` in ``params[name]``; the SQL of that array, to unnest.

    JSON goes as one array literal: psycopg would escape the quotes of each element with a
    regular-expression substitution, one call per quote (a centroid has 200)."""
    array_type = _array_type(table, column)
    if isinstance(table.c[column].type, JSON):
        params[name] = text_array([json.dumps(v) for v in values])
        return f"CAST(CAST(:{name} AS text) AS {array_type})"
    params[name] = [_element(table, column, v) for v in values]
    return f"CAST(:{name} AS {array_type})"


def _array_type(table: Table, column: str) -> str:
    """The Postgres array type of a column, e.g. ``TIMESTAMP WITH TIME ZONE[]``."""
    return f"{table.c[column].type.compile(dialect=_POSTGRES)}[]"


def _element(table: Table, column: str, value: Any) -> Any:
    # What the column's type would send for one value: aware datetimes only.
    if isinstance(value, datetime):
        return _aware(value)
    return value


def _aware(when: datetime | None) -> datetime | None:
    if when is not None and when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: Storywire stores aware UTC datetimes")
    return when
