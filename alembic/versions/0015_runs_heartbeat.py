"""runs.heartbeat_at: long-running processes stamp it, so health tells the live from the dead

``storywire health`` and ``storywire status`` need to know whether a worker and the beat are
alive without asking them: each worker process stamps its ``worker`` run periodically, and the
beat process its own run (kind ``beat``) at every dispatch tick. A stale stamp is a dead
process. Plain ADD COLUMN (nullable) and an index: no table rewrite on either dialect.

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "runs",
        sa.Column("heartbeat_at", models.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(op.f("ix_runs_heartbeat_at"), "runs", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_runs_heartbeat_at"), table_name="runs")
    op.drop_column("runs", "heartbeat_at")
