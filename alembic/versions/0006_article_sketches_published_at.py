"""article_sketches: index on published_at, so sketches past the syndication window are found

``worker.stories.prune.prune_sketches`` deletes, in batches, the sketches (and their band
rows) of articles older than ``STORYWIRE_SYNDICATION_WINDOW_DAYS``; each batch reads the
oldest sketches first, which without this index is a scan of the whole table (~600 bytes a
row: the signature is stored inline) per batch.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("article_sketches") as batch:
        batch.create_index(batch.f("ix_article_sketches_published_at"), ["published_at"])


def downgrade() -> None:
    with op.batch_alter_table("article_sketches") as batch:
        batch.drop_index(batch.f("ix_article_sketches_published_at"))
