"""story_terms: a story's postings are its centroid's 30 heaviest terms, not all 100

``worker.stories.index.posting_terms``: an article's candidate stories come from its own 20
heaviest terms, and a story about its event shares its heaviest terms; on ECB+ 10 postings per
story already give exactly the stories of 100. Fewer postings are fewer rows to write per
story (a new story wrote 100) and a table a third the size.

The story step keeps a story's postings equal to the top terms of its stored centroid and
writes them by difference, so rows of the terms past the top 30 would never be deleted: this
migration deletes them, in batches of stories (on the 100k-article bench store: 1.6M of
2.3M rows). Postgres reuses the space for new rows; ``VACUUM FULL story_terms`` returns it. The order is the code's: weight descending,
then term (the ``str`` order, done here in Python, not by the database's collation). Downgrade
puts back the centroid's other terms, weighed as they are in the centroid now.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Postings per story (worker.stories.index.DEFAULT_POSTING_TERMS when this was written).
POSTING_TERMS = 30
#: models.story_state.TERM_CHARS: postings hold terms cut to this length.
TERM_CHARS = 64
#: Stories read per statement.
BATCH = 1000

_profiles = sa.table(
    "story_profiles", sa.column("story_id", sa.BigInteger), sa.column("centroid", sa.JSON)
)
_terms = sa.table(
    "story_terms",
    sa.column("story_id", sa.BigInteger),
    sa.column("term", sa.String),
    sa.column("weight", sa.Float),
)

_DELETE = sa.delete(_terms).where(
    _terms.c.story_id == sa.bindparam("s"), _terms.c.term == sa.bindparam("t")
)

_PG_DELETE = sa.text(
    "DELETE FROM story_terms USING unnest(CAST(:s AS bigint[]), CAST(:t AS varchar[]))"
    " AS g(s, t) WHERE story_terms.story_id = g.s AND story_terms.term = g.t"
)


def upgrade() -> None:
    connection = op.get_bind()
    for batch in _centroids(connection):
        keep = {story_id: _top(centroid) for story_id, centroid in batch}
        held = connection.execute(
            sa.select(_terms.c.story_id, _terms.c.term).where(_terms.c.story_id.in_(list(keep)))
        )
        # By primary key: a NOT IN of (story, term) pairs is evaluated pair by pair for every
        # row (minutes a batch on a 100k-article store); one statement per row is a round trip
        # each on Postgres (7.5 min there), so it gets the rows as two arrays.
        gone = [(s, t) for s, t in held if t not in keep[s]]
        if not gone:
            continue
        if connection.dialect.name == "postgresql":
            ids, terms = zip(*gone, strict=True)
            connection.execute(_PG_DELETE, {"s": list(ids), "t": list(terms)})
        else:
            connection.execute(_DELETE, [{"s": s, "t": t} for s, t in gone])


def downgrade() -> None:
    connection = op.get_bind()
    for batch in _centroids(connection):
        rows: dict[tuple[int, str], float] = {}
        for story_id, centroid in batch:
            kept = _top(centroid)
            for term, weight in centroid.items():
                if weight > 0.0 and term[:TERM_CHARS] not in kept:  # one row per cut term
                    rows.setdefault((story_id, term[:TERM_CHARS]), weight)
        if rows:
            connection.execute(
                sa.insert(_terms),
                [{"story_id": s, "term": t, "weight": w} for (s, t), w in rows.items()],
            )


def _centroids(connection: Any) -> Iterator[list[tuple[int, dict[str, float]]]]:
    """Stories and their centroids, BATCH at a time, by id."""
    after = -1
    while True:
        batch = [
            (int(row[0]), dict(row[1]))
            for row in connection.execute(
                sa.select(_profiles.c.story_id, _profiles.c.centroid)
                .where(_profiles.c.story_id > after)
                .order_by(_profiles.c.story_id)
                .limit(BATCH)
            )
        ]
        if not batch:
            return
        yield batch
        after = batch[-1][0]


def _top(centroid: dict[str, float]) -> set[str]:
    ranked = sorted(centroid.items(), key=lambda tw: (-tw[1], tw[0]))[:POSTING_TERMS]
    return {term[:TERM_CHARS] for term, weight in ranked if weight > 0.0}
