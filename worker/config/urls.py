"""The URL settings checked: database, Redis, contact and proxy URLs.

Usage::

    check_database_url("postgres://u@db/storywire")   # "postgresql+psycopg://u@db/storywire"
    check_redis_url("http://cache:6379")              # ValueError: 'http' URLs are not supported
    normalize_database_url("postgres://u@db/x")       # "postgresql+psycopg://u@db/x"

Each raises ``ValueError`` with what is wrong and what to write instead: the message the
start-up error shows after the variable's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: Database URL schemes Storywire runs on (the others lack a driver or the SQL it uses).
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "postgresql+psycopg")
#: Redis URL schemes: Celery's broker and the per-host rate limit read redis(s)://; a unix://
#: socket serves the rate limit of processes that share a machine with their Redis.
REDIS_SCHEMES = ("redis", "rediss", "unix")
#: A header value: printable ASCII, so no setting can smuggle a line break into a request.
HEADER_TEXT = r"^[\x20-\x7e]+$"


def check_database_url(url: str) -> str:
    """``url`` normalized for SQLAlchemy, or ``ValueError`` saying what is wrong with it.

    Usage::

        check_database_url("postgres://u@db/storywire")   # "postgresql+psycopg://u@db/storywire"
        check_database_url("mysql://u@db/x")              # ValueError: ... not supported ...
    """
    expected = "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    try:
        parsed = make_url(normalize_database_url(url.strip()))
    except ArgumentError:
        raise ValueError(f"not a database URL; {expected}") from None
    scheme = url.strip().split("://", 1)[0].lower()
    if scheme not in DATABASE_SCHEMES and parsed.drivername != "sqlite+pysqlite":
        raise ValueError(f"{scheme!r} databases are not supported; {expected}")
    if parsed.get_backend_name() == "postgresql" and not parsed.host and not parsed.query:
        raise ValueError(f"no host in the URL; {expected}")
    return normalize_database_url(url.strip())


def check_redis_url(url: str) -> str:
    """``url`` if Celery and redis-py can both use it, else ``ValueError`` saying why."""
    expected = "use redis://HOST:PORT/DB (rediss:// for TLS, unix:///PATH for a socket)"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"not a Redis URL; {expected}") from None
    if parts.scheme.lower() not in REDIS_SCHEMES:
        what = f"{parts.scheme!r} URLs are" if parts.scheme else "a URL without a scheme is"
        raise ValueError(f"{what} not supported; {expected}")
    if parts.scheme.lower() == "unix":
        if not parts.path:
            raise ValueError(f"no socket path in the URL; {expected}")
    elif not parts.hostname:
        raise ValueError(f"no host in the URL; {expected}")
    return url.strip()


def normalize_database_url(url: str) -> str:
    # Platforms hand out `postgres://` (Heroku) or `postgresql://`; SQLAlchemy needs an
    # explicit driver to use psycopg 3 rather than looking for psycopg2.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_contact_url(url: str) -> str:
    """``url`` if a User-Agent may carry it (http(s) or mailto:, printable ASCII), else
    ``ValueError``."""
    url = url.strip()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https", "mailto") or not re.fullmatch(HEADER_TEXT, url):
        raise ValueError("must be empty, or an http(s) or mailto: URL in printable ASCII")
    return url


def check_proxy_url(url: str) -> str:
    """``url`` if it names an HTTP proxy (``http://HOST:PORT``), else ``ValueError``."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError("not a proxy URL; use http://HOST:PORT") from None
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError("use http://HOST:PORT (HTTPS targets are tunnelled through it)")
    return url.strip()


def _blank_or(check: Callable[[str], object]) -> AfterValidator:
    """A setting's validator: empty is unset (``None``), anything else passes ``check``."""

    def validate(value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # set but empty: the default, as if unset
        check(value)
        return value.strip()

    return AfterValidator(validate)


DatabaseUrl = Annotated[str | None, _blank_or(check_database_url)]
RedisUrl = Annotated[str | None, _blank_or(check_redis_url)]
ContactUrl = Annotated[str | None, _blank_or(check_contact_url)]
ProxyUrl = Annotated[str | None, _blank_or(check_proxy_url)]
