"""articles.date_error, article_sources.date_error: why a declared date was refused; an index
for a feed's oldest entry date

A feed's ``<pubDate>-1</pubDate>`` was stored as the current month and ``Sat, 01 Jan 0000``
as 2000-01-01: dateutil fills in what a text leaves out. Dates are now read strictly and a
refused one is stored as NULL; these columns keep the reason (``"published '-1': no year"``)
where an operator or a consumer finds it: on the feed entry's source row for what the feed
said, and on the article for what the page (or else the feed) said.

The index on ``article_sources(feed_id, published_at)`` answers "the oldest entry date this
feed ever gave" in one lookup: a page date before it is not believed (worker/pipeline/dates.py).

Plain nullable ADD COLUMNs and a CREATE INDEX: no table rewrite on either dialect.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLEs, not batch mode: recreating ``articles`` on SQLite would fail on the
    # view ``v_articles`` (0002) that reads it.
    op.add_column("articles", sa.Column("date_error", sa.Text(), nullable=True))
    op.add_column("article_sources", sa.Column("date_error", sa.Text(), nullable=True))
    op.create_index(
        "ix_article_sources_feed_id_published_at", "article_sources", ["feed_id", "published_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_article_sources_feed_id_published_at", table_name="article_sources")
    op.drop_column("article_sources", "date_error")
    op.drop_column("articles", "date_error")
