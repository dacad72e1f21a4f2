"""term_stats_version: a token that changes with every write to term_stats

A story batch reads the document count of each of its ~4000 terms (26 ms of a 200 ms batch
on the 100k bench store), nearly all of them read by the batches before it too. A worker now
keeps the counts it read and wrote in memory, and trusts them only while this row's token is
the one it saw after its own last write: on Postgres a statement-level trigger on term_stats
sets a new random token for every INSERT, UPDATE, DELETE or TRUNCATE, whoever runs it (another
worker, a migration, a hand-made fix, a restore), and a rolled-back write leaves the old
token. SQLite reads its counts in-process, without round trips: it keeps no counts, and has no
trigger.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    version = op.create_table(
        "term_stats_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_term_stats_version")),
    )
    op.bulk_insert(version, [{"id": 1, "token": str(uuid.uuid4())}])
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION term_stats_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN UPDATE term_stats_version SET token = gen_random_uuid()::text; RETURN NULL;"
        " END $$"
    )
    op.execute(
        "CREATE TRIGGER term_stats_changed"
        " AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON term_stats"
        " FOR EACH STATEMENT EXECUTE FUNCTION term_stats_changed()"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER term_stats_changed ON term_stats")
        op.execute("DROP FUNCTION term_stats_changed()")
    op.drop_table("term_stats_version")
