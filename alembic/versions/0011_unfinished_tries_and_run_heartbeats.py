"""articles.unfinished_tries and runs.heartbeat_at: work that never finishes is noticed

A page that killed its worker (out of memory) or ran past the task time limit was delivered
again and again (acks_late redelivers it, the sweeper re-enqueues it): each try now counts on
the row before the page is fetched, the count is cleared when the try ends in any way, and a
page whose last ``STORYWIRE_MAX_UNFINISHED_TRIES`` tries never ended is failed with the reason.

A worker run killed with -9 stayed ``running`` forever: a worker now stamps its run's
``heartbeat_at`` every ``STORYWIRE_RUN_HEARTBEAT_S``, and the sweeper marks a run whose
heartbeat is older than ``STORYWIRE_RUN_LOST_AFTER_S`` as ``lost``.

Both are plain ADD COLUMNs (a constant default, or none): no table rewrite on either dialect.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLEs, not batch mode: recreating ``articles`` on SQLite would fail on the
    # view ``v_articles`` (0002) that reads it.
    op.add_column(
        "articles",
        sa.Column("unfinished_tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("runs", sa.Column("heartbeat_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "heartbeat_at")
    op.drop_column("articles", "unfinished_tries")
