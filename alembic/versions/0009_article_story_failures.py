"""articles: story_error and story_attempts, what the story step's failures left on the row

An article whose story assignment always raised (a bug on one text, bad data) was remembered
only in the failing worker process's memory: a restarted worker relearnt it with a failed
batch, the sweeper re-enqueued it forever, and nothing on the row said why it had no story.
Its own failures (not the database going away) are now counted on the row with the last
error, the story batches leave it out, and the sweeper gives up after
``worker.tasks.DEFAULT_MAX_STORY_ATTEMPTS`` (``storywire stories retry`` resets it).

Both are plain ADD COLUMNs with a constant default: no table rewrite on either dialect.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLEs, not batch mode: recreating ``articles`` on SQLite would fail on the
    # view ``v_articles`` (0002) that reads it. SQLite drops a column itself since 3.35.
    op.add_column("articles", sa.Column("story_error", sa.Text(), nullable=True))
    op.add_column(
        "articles",
        sa.Column("story_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("articles", "story_attempts")
    op.drop_column("articles", "story_error")
