"""feeds.username and feeds.password: a feed's credentials apart from its URL

A feed added as ``https://user:secret@host/feed`` kept the password in ``feeds.url``, and so
in every ``feed.created`` / ``feed.removed`` / ``feed.gone`` change, in ``v_articles.feed_url``,
in OPML exports, logs and CLI output. The URL is now stored without its ``user:password@``;
the credentials go to these two columns (decoded), read only to fetch the feed. Existing
rows are split the same way (a row whose plain URL another row already has keeps its URL:
two feeds cannot have one URL), and the ``url`` of past feed changes is scrubbed.
Downgrade puts the credentials back into the URL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_feeds = sa.table(
    "feeds",
    sa.column("id", sa.BigInteger),
    sa.column("url", sa.Text),
    sa.column("username", sa.Text),
    sa.column("password", sa.Text),
)
_changes = sa.table(
    "changes",
    sa.column("id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch mode): recreating ``feeds`` on SQLite would fail on the
    # view ``v_articles`` (0002) that reads it.
    op.add_column("feeds", sa.Column("username", sa.Text(), nullable=True))
    op.add_column("feeds", sa.Column("password", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(_feeds.c.id, _feeds.c.url).where(_feeds.c.url.like("%@%")))
    for feed_id, url in rows.all():
        plain, username, password = _split(url)
        if plain == url:
            continue
        taken = bind.execute(sa.select(_feeds.c.id).where(_feeds.c.url == plain)).first()
        if taken is None:
            bind.execute(
                sa.update(_feeds)
                .where(_feeds.c.id == feed_id)
                .values(url=plain, username=username, password=password)
            )
    changes = bind.execute(
        sa.select(_changes.c.id, _changes.c.payload).where(_changes.c.kind.like("feed.%"))
    )
    for change_id, payload in changes.all():
        url = payload.get("url") if isinstance(payload, dict) else None
        if isinstance(url, str) and _split(url)[0] != url:
            scrubbed: dict[str, Any] = {**payload, "url": _split(url)[0]}
            bind.execute(
                sa.update(_changes).where(_changes.c.id == change_id).values(payload=scrubbed)
            )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_feeds.c.id, _feeds.c.url, _feeds.c.username, _feeds.c.password).where(
            sa.or_(_feeds.c.username.is_not(None), _feeds.c.password.is_not(None))
        )
    )
    for feed_id, url, username, password in rows.all():
        parts = urlsplit(url)
        userinfo = quote(username or "", safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        joined = urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
        bind.execute(sa.update(_feeds).where(_feeds.c.id == feed_id).values(url=joined))
    op.drop_column("feeds", "password")
    op.drop_column("feeds", "username")


def _split(url: str) -> tuple[str, str | None, str | None]:
    # A copy of worker.urls.split_credentials as of this revision: a migration must not
    # change when the code it would import changes.
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    username, colon, password = userinfo.partition(":")
    plain = urlunsplit(parts._replace(netloc=hostport))
    return plain, unquote(username) or None, unquote(password) if colon else None
