"""articles.date_error, article_sources.date_error: why a declared date was refused

A feed's ``<pubDate>-1</pubDate>`` was stored as the current month and ``Sat, 01 Jan 0000``
as 2000-01-01: dateutil fills in what a text leaves out. Dates are now read strictly and a
refused one is stored as NULL; these columns keep the reason (``"published '-1': no year"``)
where an operator or a consumer finds it: on the feed entry's source row for what the feed
said, and on the article for what the page (or else the feed) said.

Plain nullable ADD COLUMNs: no table rewrite on either dialect.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLEs, not batch mode: recreating ``articles`` on SQLite would fail on the
    # view ``v_articles`` (0002) that reads it.
    op.add_column("articles", sa.Column("date_error", sa.Text(), nullable=True))
    op.add_column("article_sources", sa.Column("date_error", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("article_sources", "date_error")
    op.drop_column("articles", "date_error")
