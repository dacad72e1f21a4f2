"""An index on runs.heartbeat_at: health and status look for fresh heartbeats

``storywire health``, ``storywire status`` and the metrics ask, at every check or scrape,
which workers and which beat stamped their run lately (``runs.heartbeat_at``, added by 0011).
A plain CREATE INDEX: no table rewrite on either dialect.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_runs_heartbeat_at"), "runs", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_runs_heartbeat_at"), table_name="runs")
