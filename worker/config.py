"""Storywire settings: one typed object read from the environment.

Usage::

    from worker.config import get_settings

    settings = get_settings()
    settings.database_url      # DATABASE_URL, SQLite file in the data dir by default
    settings.broker_url        # REDIS_URL, else an embedded SQLite broker

``DATABASE_URL`` and ``REDIS_URL`` keep their conventional names (docker-compose, Heroku-style
platforms set them); every other setting is ``STORYWIRE_<NAME>``. With nothing set at all,
Storywire runs on embedded defaults: a SQLite database and a SQLite-backed Celery broker under
``STORYWIRE_DATA_DIR``, so ``storywire run`` needs no server.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".storywire")
DEFAULT_USER_AGENT = "Storywire/0.1"
DEFAULT_CONTACT_URL = "https://github.com/storywire/storywire"


class Settings(BaseSettings):
    """All configuration. Field docs are the reference table in the README."""

    model_config = SettingsConfigDict(env_prefix="STORYWIRE_", extra="ignore")

    # --- where things live -------------------------------------------------------------
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description="Directory for the embedded SQLite database, broker and beat schedule.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "STORYWIRE_DATABASE_URL"),
        description="SQLAlchemy URL of the database. Default: SQLite file in the data dir.",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "STORYWIRE_REDIS_URL"),
        description="Redis URL for the Celery broker and shared rate limits. Default: none "
        "(embedded SQLite broker, process-local rate limits).",
    )
    auto_migrate: bool = Field(
        True, description="Apply Alembic migrations when `storywire run` starts."
    )

    # --- scheduling ----------------------------------------------------------------------
    dispatch_interval_s: float = Field(
        30.0, description="How often beat looks for feeds that are due."
    )
    dispatch_per_host: int = Field(
        2, description="At most this many feeds of one host are dispatched per tick."
    )
    dispatch_batch: int = Field(500, description="At most this many feeds dispatched per tick.")
    default_interval_s: int = Field(
        900, description="Poll interval of a new feed, before it adapts to the feed's rhythm."
    )
    min_interval_s: int = Field(300, description="Shortest adaptive poll interval.")
    max_interval_s: int = Field(86_400, description="Longest adaptive poll interval.")
    max_backoff_s: int = Field(86_400, description="Cap of the error back-off of a failing feed.")
    dispatch_lease_s: int = Field(
        600,
        description="A dispatched feed is not dispatched again for this long; if its task is "
        "lost (killed worker, broker restart), it is polled again once the lease expires.",
    )
    outage_window_s: float = Field(
        300.0,
        description="Network failures (connect, DNS, timeout) seen within this window are "
        "compared across hosts to tell a local outage from a failing feed.",
    )
    outage_min_hosts: int = Field(
        3,
        description="When this many distinct hosts failed at network level since the last "
        "fetch that got any answer, the network is ours to blame: no feed error is counted.",
    )

    # --- fetching ------------------------------------------------------------------------
    user_agent: str = Field(
        DEFAULT_USER_AGENT,
        description="Product token of the User-Agent; the contact URL is appended to it.",
    )
    contact_url: str | None = Field(
        DEFAULT_CONTACT_URL,
        description="Where a site owner can reach whoever runs this worker, sent in the "
        "User-Agent as `(+URL)`. Empty: none.",
    )
    connect_timeout_s: float = Field(10.0, description="TCP/TLS connect timeout.")
    read_timeout_s: float = Field(20.0, description="Timeout between two reads.")
    total_timeout_s: float = Field(
        60.0, description="Deadline for a whole response, however slowly it trickles in."
    )
    max_response_bytes: int = Field(
        10 * 1024 * 1024, description="Cap on the decoded body of one response."
    )
    max_redirects: int = Field(5, description="Redirects followed per request.")
    allow_private_networks: bool = Field(
        False,
        description="Allow loopback/private destinations (tests, intranet feeds). Off by default "
        "so feed URLs cannot reach internal services.",
    )
    obey_robots: bool = Field(True, description="Obey robots.txt for article pages.")
    host_rate_per_s: float = Field(1.0, description="Requests per second per host, all workers.")
    rate_max_wait_s: float = Field(
        30.0,
        description="Longest a request waits for its host's turn; beyond it, the feed or "
        "article is deferred (no error counted) instead of holding a worker.",
    )
    robots_ttl_s: float = Field(
        6 * 3600.0, gt=0, le=86_400, description="How long a fetched robots.txt is trusted."
    )
    max_entries_per_fetch: int = Field(
        1_000, description="Entries taken from one feed fetch (the newest first)."
    )
    max_field_chars: int = Field(
        100_000, description="Cap on the length of any one text field taken from a feed entry."
    )

    strict_expat: bool = Field(
        False,
        description="Refuse to start on an Expat older than 2.6 (default: start, with a warning).",
    )

    # --- worker --------------------------------------------------------------------------
    concurrency: int = Field(2, description="Worker processes started by `storywire run`.")
    log_level: str = Field("INFO", description="Log level.")
    log_json: bool = Field(False, description="Log one JSON object per line.")
    stale_pending_after_s: int = Field(
        900, description="A stub still pending after this long is re-enqueued by the sweeper."
    )
    sweep_interval_s: float = Field(
        300.0, description="How often beat runs the sweeper (stubs left pending by lost tasks)."
    )
    task_soft_time_limit_s: float = Field(
        300.0,
        ge=1,
        le=86_400,
        description="A task still running after this long is interrupted (an article page "
        "is retried, and counted as unfinished).",
    )
    task_time_limit_s: float = Field(
        360.0,
        ge=1,
        le=86_400,
        description="A task still running after this long has its worker process killed "
        "and replaced. Longer than the soft limit.",
    )
    max_memory_per_child_mb: int = Field(
        500,
        ge=64,
        le=1_048_576,
        description="A worker process whose resident memory exceeds this after a task is "
        "replaced by a fresh one.",
    )
    max_unfinished_tries: int = Field(
        3,
        ge=1,
        le=100,
        description="An article page whose last tries all killed their worker or ran past "
        "the time limit this many times is failed with the reason, not tried again.",
    )
    broker_visibility_timeout_s: float = Field(
        3600.0,
        ge=1,
        le=604_800,
        description="Redis redelivers a task not acknowledged within this time (its worker "
        "died mid-task). Longer than the hard time limit and the longest retry delay.",
    )
    run_heartbeat_s: float = Field(
        30.0, ge=1, le=3600, description="How often a worker stamps its run's heartbeat_at."
    )
    run_lost_after_s: float = Field(
        300.0,
        ge=2,
        le=604_800,
        description="A running run whose heartbeat is older than this is marked lost by "
        "the sweeper (its worker was killed).",
    )

    # --- consumers -----------------------------------------------------------------------
    changes_retention_days: float = Field(
        30.0, description="Changes older than this are pruned (consumers must keep up)."
    )

    # --- stories -------------------------------------------------------------------------
    story_window_hours: float = Field(
        72.0, description="Stories inactive for longer than this are not candidates."
    )
    story_batch: int = Field(
        32,
        ge=1,
        description="Articles waiting for a story that one task assigns in one transaction "
        "(the same results as one by one, with less database work per article).",
    )
    story_batches: int = Field(
        4,
        ge=1,
        description="Batches of a story backlog that one task works off, one transaction "
        "each, while full ones are found; each next batch's features are computed while the "
        "one before is written.",
    )
    syndication_window_days: float = Field(
        30.0,
        gt=0,
        description="MinHash sketches of articles older than this are pruned: a syndicated "
        "copy published later is no longer matched to them (an exact copy still is).",
    )

    @model_validator(mode="after")
    def _limits_in_order(self) -> Settings:
        # A hard limit at or below the soft one would kill a task before it can clean up; a
        # run that beats less often than it is declared lost would be lost while alive.
        if self.task_time_limit_s <= self.task_soft_time_limit_s:
            raise ValueError(
                "STORYWIRE_TASK_TIME_LIMIT_S must be greater than STORYWIRE_TASK_SOFT_TIME_LIMIT_S"
            )
        if self.run_lost_after_s <= 2 * self.run_heartbeat_s:
            raise ValueError(
                "STORYWIRE_RUN_LOST_AFTER_S must be more than twice STORYWIRE_RUN_HEARTBEAT_S"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, with the embedded SQLite default filled in."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'storywire.db').resolve()}"

    @property
    def user_agent_header(self) -> str:
        """The User-Agent sent: ``"Storywire/0.1 (+https://contact.example)"``."""
        contact = (self.contact_url or "").strip()
        if not contact or contact in self.user_agent:
            return self.user_agent
        return f"{self.user_agent} (+{contact})"

    @property
    def broker_url(self) -> str:
        """Celery broker: Redis when configured, else kombu's SQLAlchemy transport on SQLite
        (made safe for processes starting together: ``worker.broker``)."""
        if self.redis_url:
            return self.redis_url
        from worker.broker import embedded_broker_url  # kombu: imported only when needed

        return embedded_broker_url(self.data_dir / "broker.db")

    @property
    def embedded(self) -> bool:
        """True when running without any server (no REDIS_URL)."""
        return not self.redis_url


def normalize_database_url(url: str) -> str:
    # Platforms hand out `postgres://` (Heroku) or `postgresql://`; SQLAlchemy needs an
    # explicit driver to use psycopg 3 rather than looking for psycopg2.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests call ``get_settings.cache_clear()``)."""
    return Settings()
