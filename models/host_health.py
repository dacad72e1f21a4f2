"""Network health per host: what tells a local outage from failing feeds.

One row per host, updated after every feed fetch that says something about the network: a
response of any kind (even a 404) proves our network works; a connect, DNS or timeout failure
is a vote for "the network is down". ``worker.pipeline.outage`` reads it (see the README,
"Feed health").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.types import UTCDateTime


class HostHealth(Base):
    """Last network-level success and failure of one host."""

    __tablename__ = "host_health"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: Last time a request to this host got an HTTP response (any status).
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: Last time a request to this host failed before any response (connect, DNS, timeout).
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_failure_class: Mapped[str | None] = mapped_column(String(64))
