"""consumer contract: runs and provenance, commit-ordered change ids, views v1

- ``runs`` and ``articles.run_id`` / ``articles.task_id`` (provenance).
- On Postgres, ``changes`` ids are assigned at commit time under a lock, so ids become
  visible in increasing order and a consumer reading "after id N" never misses a row
  committed late by a slower transaction. Each committing transaction also NOTIFYs
  ``storywire_changes``. (SQLite needs neither: one writer at a time, no LISTEN.)
- ``v_articles`` and ``v_stories``: the stable views for consumers (README, "Views").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: Must match worker.store.changes.CHANGES_COMMIT_LOCK_KEY / NOTIFY_CHANNEL.
CHANGES_COMMIT_LOCK_KEY = 0x5707_C4A6
NOTIFY_CHANNEL = "storywire_changes"

V_ARTICLES = """
CREATE VIEW v_articles AS
SELECT a.id, a.canonical_url, a.url, a.title, a.text, a.summary, a.authors,
       a.published_at, a.published_source, a.modified_at, a.modified_source,
       a.language, a.site_name, a.image_url, a.content_hash, a.duplicate_of,
       a.story_id, a.feed_id, f.url AS feed_url, a.status, a.http_status,
       a.error_class, a.discovered_at, a.fetched_at, a.updated_at, a.run_id
FROM articles a
LEFT JOIN feeds f ON f.id = a.feed_id
"""

V_STORIES = """
CREATE VIEW v_stories AS
SELECT s.id, s.headline, s.first_published_at, s.last_published_at, s.article_count,
       s.outlet_count, s.keywords, s.language, s.created_at, s.updated_at
FROM stories s
WHERE s.merged_into IS NULL
"""

PG_COMMIT_ORDER = f"""
CREATE SEQUENCE changes_pending_id_seq INCREMENT BY -1 START WITH -1 MAXVALUE -1;
ALTER TABLE changes ALTER COLUMN id SET DEFAULT nextval('changes_pending_id_seq');
CREATE FUNCTION storywire_changes_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs at COMMIT (deferred). The lock is held until the commit is visible, so the
    -- ids handed out here are visible in the order they are handed out.
    PERFORM pg_advisory_xact_lock({CHANGES_COMMIT_LOCK_KEY});
    UPDATE changes SET id = nextval('changes_id_seq') WHERE id = NEW.id;
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER changes_commit_order AFTER INSERT ON changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.id < 0)
    EXECUTE FUNCTION storywire_changes_commit_order();
"""

PG_COMMIT_ORDER_DOWN = """
DROP TRIGGER changes_commit_order ON changes;
DROP FUNCTION storywire_changes_commit_order();
ALTER TABLE changes ALTER COLUMN id SET DEFAULT nextval('changes_id_seq');
DROP SEQUENCE changes_pending_id_seq;
"""


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column(
            "args",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "stats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runs_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_started_at"), ["started_at"], unique=False)

    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.add_column(sa.Column("task_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_articles_run_id"), ["run_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_articles_run_id_runs"), "runs", ["run_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_changes_created_at"), ["created_at"], unique=False)

    op.execute(V_ARTICLES)
    op.execute(V_STORIES)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_COMMIT_ORDER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_COMMIT_ORDER_DOWN)
    op.execute("DROP VIEW v_stories")
    op.execute("DROP VIEW v_articles")
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_changes_created_at"))

    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_articles_run_id_runs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_articles_run_id"))
        batch_op.drop_column("task_id")
        batch_op.drop_column("run_id")

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_started_at"))
        batch_op.drop_index(batch_op.f("ix_runs_kind"))

    op.drop_table("runs")
