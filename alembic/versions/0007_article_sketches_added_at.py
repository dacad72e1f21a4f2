"""article_sketches: added_at, so a sketch lives a syndication window after it was written

``worker.stories.prune.prune_sketches`` aged a sketch by its ``published_at`` alone, so an
article that reached the store with an old date (a back-dated page, a feed replaying its
archive) lost its sketch at the next run, and a near copy of it arriving the day after was no
longer found by layer 3. A sketch is now pruned once both its ``published_at`` and its
``added_at`` are past the window: the later of the two ages it.

Every writer (the ORM insert on SQLite, the raw INSERT of the story step and the bench's COPY
on Postgres) leaves ``added_at`` to the server default. Rows written before this migration
count as added when it ran (on Postgres the default is evaluated once: no table rewrite), so
they live up to one window longer than their date alone would let them; backfilling from
``articles`` instead would rewrite the biggest table of the index in one transaction.

The prune query reads the new index on ``added_at``; the index on ``published_at`` (0006)
served only that query and goes. The ``added_at`` index alone is enough: a sketch's
``published_at`` is seldom later than its ``added_at`` (feed and page dates more than two days
ahead are dropped, ``worker.text.dates.DEFAULT_MAX_FUTURE``), so the only rows the
query reads past without deleting are the few future-dated ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot ADD COLUMN with a non-constant default: batch mode recreates the table
    # there (copying the rows, which take the default), a plain ALTER TABLE on Postgres.
    recreate = "always" if op.get_context().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("article_sketches", recreate=recreate) as batch:
        batch.add_column(
            sa.Column(
                "added_at",
                models.types.UTCDateTime(timezone=True),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=False,
            )
        )
        batch.create_index(batch.f("ix_article_sketches_added_at"), ["added_at"])
        batch.drop_index(batch.f("ix_article_sketches_published_at"))


def downgrade() -> None:
    with op.batch_alter_table("article_sketches") as batch:
        batch.create_index(batch.f("ix_article_sketches_published_at"), ["published_at"])
        batch.drop_index(batch.f("ix_article_sketches_added_at"))
        batch.drop_column("added_at")
