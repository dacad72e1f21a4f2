"""article_features: an article's story features, stored with its page

The article task computes an article's story features (content hash, MinHash sketch and band
keys, terms, key phrases) when it stores the page, outside the story-step lock, and the story
step reads them instead of computing them under it (worker/stories/features_store.py). A row
lives from the page's final write until the article's story step, which deletes it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "article_features",
        sa.Column("article_id", _ID, nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_features_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_article_features")),
    )


def downgrade() -> None:
    op.drop_table("article_features")
