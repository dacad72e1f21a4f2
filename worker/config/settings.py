"""The settings model: every setting with its default, bounds and meaning.

Usage::

    settings = Settings()              # read from the environment, *_FILE twins and .env
    settings.sqlalchemy_url            # DATABASE_URL, else the SQLite file in the data dir
    get_settings()                     # the process's own, read once

Read by the entry points only (the CLI, the Celery app and its signal handlers, a worker
process's resources): everything below them is handed the settings it needs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from worker.config.secrets import FileSecrets
from worker.config.urls import (
    HEADER_TEXT,
    ContactUrl,
    DatabaseUrl,
    ProxyUrl,
    RedisUrl,
    normalize_database_url,
)

DEFAULT_DATA_DIR = Path(".storywire")
DEFAULT_USER_AGENT = "Storywire/0.1"
DEFAULT_CONTACT_URL = "https://github.com/storywire/storywire"
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_ENV_FILE = ".env"

_DAY_S = 86_400
_WEEK_S = 7 * _DAY_S
_YEAR_S = 365 * _DAY_S

LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
]


class Settings(BaseSettings):
    """All configuration. Field docs are the reference table in the README."""

    # A `.env` file in the working directory is read too (the environment wins over it).
    model_config = SettingsConfigDict(
        env_prefix="STORYWIRE_",
        extra="ignore",
        env_file=DEFAULT_ENV_FILE,
        env_file_encoding="utf-8",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: the variable itself, then NAME_FILE, then `.env`, then the default.
        return (init_settings, env_settings, FileSecrets(settings_cls), dotenv_settings)

    # --- where things live -------------------------------------------------------------
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        json_schema_extra={"allowed": "a directory Storywire can create and write"},
        description="Directory for the embedded SQLite database, broker and beat schedule.",
    )
    database_url: DatabaseUrl = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "STORYWIRE_DATABASE_URL"),
        json_schema_extra={"allowed": "`sqlite:///PATH` or `postgresql://USER@HOST:PORT/DB`"},
        description="SQLAlchemy URL of the database. Default: SQLite file in the data dir.",
    )
    redis_url: RedisUrl = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "STORYWIRE_REDIS_URL"),
        json_schema_extra={"allowed": "`redis://HOST:PORT/DB`, `rediss://…` or `unix:///PATH`"},
        description="Redis URL for the Celery broker and shared rate limits. Default: none "
        "(embedded SQLite broker, process-local rate limits).",
    )
    auto_migrate: bool = Field(
        True, description="Apply Alembic migrations when `storywire run` starts."
    )

    # --- scheduling ----------------------------------------------------------------------
    dispatch_interval_s: float = Field(
        30.0, ge=1, le=3600, description="How often beat looks for feeds that are due."
    )
    dispatch_per_host: int = Field(
        2, ge=1, le=10_000, description="At most this many feeds of one host per tick."
    )
    dispatch_batch: int = Field(
        500, ge=1, le=100_000, description="At most this many feeds dispatched per tick."
    )
    default_interval_s: int = Field(
        900, ge=1, le=_YEAR_S, description="Poll interval of a new feed, before it adapts."
    )
    min_interval_s: int = Field(
        300, ge=1, le=_YEAR_S, description="Shortest adaptive poll interval."
    )
    max_interval_s: int = Field(
        86_400, ge=1, le=_YEAR_S, description="Longest adaptive poll interval."
    )
    max_backoff_s: int = Field(
        86_400, ge=1, le=_YEAR_S, description="Cap of the error back-off of a failing feed."
    )
    dispatch_lease_s: int = Field(
        600,
        ge=1,
        le=_WEEK_S,
        description="A dispatched feed is not dispatched again for this long; if its task is "
        "lost (killed worker, broker restart), it is polled again once the lease expires.",
    )
    outage_window_s: float = Field(
        300.0,
        gt=0,
        le=_DAY_S,
        description="Network failures (connect, DNS, timeout) seen within this window are "
        "compared across hosts to tell a local outage from a failing feed.",
    )
    outage_min_hosts: int = Field(
        3,
        # One failing host is that host's problem, never proof of our own outage.
        ge=2,
        le=10_000,
        description="When this many distinct hosts failed at network level since the last "
        "fetch that got any answer, the network is ours to blame: no feed error is counted.",
    )

    # --- fetching ------------------------------------------------------------------------
    user_agent: str = Field(
        DEFAULT_USER_AGENT,
        min_length=1,
        max_length=200,
        pattern=HEADER_TEXT,
        json_schema_extra={"allowed": "1 to 200 printable ASCII characters"},
        description="Product token of the User-Agent; the contact URL is appended to it.",
    )
    contact_url: ContactUrl = Field(
        DEFAULT_CONTACT_URL,
        max_length=500,
        json_schema_extra={
            "allowed": "empty, or an http(s) or mailto: URL (at most 500 characters)"
        },
        description="Where a site owner can reach whoever runs this worker, sent in the "
        "User-Agent as `(+URL)`. Empty: none.",
    )
    connect_timeout_s: float = Field(10.0, gt=0, le=300, description="TCP/TLS connect timeout.")
    read_timeout_s: float = Field(20.0, gt=0, le=600, description="Timeout between two reads.")
    total_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Deadline for a whole response, however slowly it trickles in.",
    )
    max_response_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        le=1024**3,
        description="Cap on the decoded body of one response.",
    )
    max_redirects: int = Field(5, ge=0, le=30, description="Redirects followed per request.")
    allow_private_networks: bool = Field(
        False,
        description="Allow loopback/private destinations (tests, intranet feeds). Off by default "
        "so feed URLs cannot reach internal services.",
    )
    obey_robots: bool = Field(True, description="Obey robots.txt for article pages.")
    host_rate_per_s: float = Field(
        1.0,
        ge=0,
        le=100_000,
        description="Requests per second per host, all workers (0: no per-host rate).",
    )
    rate_max_wait_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest a request waits for its host's turn; beyond it, the feed or "
        "article is deferred (no error counted) instead of holding a worker.",
    )
    robots_ttl_s: float = Field(
        6 * 3600.0, gt=0, le=86_400, description="How long a fetched robots.txt is trusted."
    )
    max_entries_per_fetch: int = Field(
        1_000, ge=1, le=100_000, description="Entries taken from one feed fetch (the newest first)."
    )
    max_field_chars: int = Field(
        100_000,
        ge=1_000,
        le=10_000_000,
        description="Cap on the length of any one text field taken from a feed entry.",
    )

    strict_expat: bool = Field(
        False,
        description="Refuse to start on an Expat older than 2.6 (default: start, with a warning).",
    )

    # --- worker --------------------------------------------------------------------------
    concurrency: int = Field(
        2, ge=1, le=256, description="Worker processes started by `storywire run`."
    )
    log_level: LogLevel = Field("INFO", description="Log level.")
    log_json: bool = Field(False, description="Log one JSON object per line.")
    stale_pending_after_s: int = Field(
        900,
        ge=1,
        le=_WEEK_S,
        description="A stub still pending after this long is re-enqueued by the sweeper.",
    )
    sweep_interval_s: float = Field(
        300.0,
        ge=1,
        le=_DAY_S,
        description="How often beat runs the sweeper (stubs left pending by lost tasks).",
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
    max_page_attempts: int = Field(
        4,
        ge=1,
        le=100,
        description="Transient failures of an article page (timeouts, 5xx, 429) before it is "
        "given up as failed; each retry waits longer.",
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
        # Pruning runs on every worker: a value below a day is a typo that empties the feed
        # consumers read, not a retention policy.
        30.0,
        ge=1,
        le=36_500,
        description="Changes older than this are pruned (consumers must keep up).",
    )

    prune_interval_s: float = Field(
        3600.0,
        ge=60,
        le=_DAY_S,
        description="How often beat prunes old changes, sketches and (with a retention) articles.",
    )

    # --- stories -------------------------------------------------------------------------
    story_window_hours: float = Field(
        72.0,
        gt=0,
        le=8_760,
        description="Stories inactive for longer than this are not candidates of the online "
        "step (a bound on its work; refinement joins later coverage to its story).",
    )
    story_batch: int = Field(
        32,
        ge=1,
        le=10_000,
        description="Articles waiting for a story that one task assigns in one transaction "
        "(the same results as one by one, with less database work per article).",
    )
    story_batches: int = Field(
        4,
        ge=1,
        le=1_000,
        description="Batches of a story backlog that one task works off, one transaction "
        "each, while full ones are found; each next batch's features are computed while the "
        "one before is written.",
    )
    refine_interval_s: float = Field(
        600.0,
        ge=1,
        le=86_400,
        description="How often beat re-clusters the live window of stories (refinement).",
    )
    refine_window_hours: float = Field(
        168.0,
        gt=0,
        le=720,
        description="Refinement re-clusters the stories active within this long of the newest "
        "article.",
    )
    refine_max_articles: int = Field(
        20_000,
        ge=100,
        le=200_000,
        description="At most this many articles (whole stories, most recently active first) "
        "per refinement: bounds its time and memory.",
    )
    syndication_window_days: float = Field(
        30.0,
        gt=0,
        le=3_650,
        description="MinHash sketches of articles older than this are pruned: a syndicated "
        "copy published later is no longer matched to them (an exact copy still is).",
    )

    # --- operations --------------------------------------------------------------------
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65_535,
        description="Serve Prometheus metrics at /metrics and health at /healthz on this port "
        "(`storywire run`, `storywire worker`, `storywire metrics`). Unset: no server.",
    )
    metrics_host: str = Field(
        DEFAULT_METRICS_HOST,
        min_length=1,
        max_length=253,
        pattern=r"^[0-9A-Za-z.:\[\]_-]+$",
        json_schema_extra={"allowed": "an IP address or host name (e.g. 0.0.0.0)"},
        description="Address the metrics server listens on (0.0.0.0 in a container).",
    )
    metrics_top_domains: int = Field(
        20,
        ge=0,
        le=1_000,
        description="Hosts with their own series in the per-domain metrics (those with the "
        "most feed entries); every other host is counted as `other`.",
    )
    http_proxy: ProxyUrl = Field(
        None,
        max_length=2_000,
        json_schema_extra={"allowed": "empty, or `http://HOST:PORT`"},
        description="Send every fetch through this HTTP proxy (http://host:port). The "
        "destination check still applies to the target's address.",
    )
    article_retention_days: float | None = Field(
        None,
        gt=0,
        le=36_500,
        description="Delete articles discovered longer ago than this (pruning, with an "
        "`article.deleted` change each). Unset: articles are kept forever.",
    )

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        if not str(value).strip():
            raise ValueError("must name a directory")
        return value

    @model_validator(mode="after")
    def _settings_in_order(self) -> Self:
        if self.min_interval_s > self.max_interval_s:
            raise ValueError(
                f"STORYWIRE_MIN_INTERVAL_S ({self.min_interval_s}) is above "
                f"STORYWIRE_MAX_INTERVAL_S ({self.max_interval_s}): the shortest poll interval "
                "must not exceed the longest"
            )
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
    def broker_path(self) -> Path:
        """The embedded broker's SQLite file (when there is no ``REDIS_URL``)."""
        return (self.data_dir / "broker.db").resolve()

    @property
    def embedded(self) -> bool:
        """True when running without any server (no REDIS_URL)."""
        return not self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests call ``get_settings.cache_clear()``)."""
    return Settings()
