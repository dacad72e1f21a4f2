"""host health: last network-level success and failure per host

Lets the worker tell its own network outage (every host failing at once) from failing
feeds, so an outage does not count errors against every feed (see worker/pipeline/outage.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "host_health",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("last_ok_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failure_class", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_host_health")),
    )
    op.create_index(op.f("ix_host_health_last_failure_at"), "host_health", ["last_failure_at"])
    op.create_index(op.f("ix_host_health_last_ok_at"), "host_health", ["last_ok_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_host_health_last_ok_at"), table_name="host_health")
    op.drop_index(op.f("ix_host_health_last_failure_at"), table_name="host_health")
    op.drop_table("host_health")
