"""Long-running processes and the database schema: run, worker, beat, db."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.celery_app import QUEUES
from worker.cli._context import console, err_console, fail, settings
from worker.cli.checks import DEFAULT_SERVICE_WAIT_S, check_broker, check_database, ensure_data_dir
from worker.config import Settings, check_database_url
from worker.feeds.expat import UnsafeXMLParser, check_expat
from worker.migrations import current_revision, downgrade, head_revision, upgrade

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)

ExtraArgs = Annotated[
    list[str] | None, typer.Argument(help="Extra arguments passed to Celery as they are.")
]


def _celery(argv: list[str]) -> None:
    _check_xml_parser()
    from worker.celery_app import app as celery_app

    celery_app.start(argv)


def _service_settings() -> Settings:
    """Settings of a long-running process, once its data dir, database and broker are there
    (each given a few seconds: they may be starting beside it)."""
    current = settings()
    ensure_data_dir(current)
    check_database(current.sqlalchemy_url, wait_s=DEFAULT_SERVICE_WAIT_S)
    check_broker(current, wait_s=DEFAULT_SERVICE_WAIT_S)
    return current


def _check_xml_parser() -> None:
    # Before any feed is parsed: refuse an Expat without the protections we rely on.
    try:
        warning = check_expat(strict=settings().strict_expat)
    except UnsafeXMLParser as exc:
        raise fail(str(exc)) from exc
    if warning:
        err_console.print(f"[yellow]warning:[/yellow] {warning}")


def run(
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default: STORYWIRE_CONCURRENCY).")
    ] = None,
    extra: ExtraArgs = None,
) -> None:
    """Run a worker with its beat schedule embedded: everything in one command.

    With no configuration this uses a SQLite database and a SQLite broker in
    STORYWIRE_DATA_DIR; set DATABASE_URL and REDIS_URL for Postgres + Redis.
    """
    current = _service_settings()
    if current.auto_migrate:
        upgrade(current.sqlalchemy_url)
    mode = "embedded (SQLite, no server)" if current.embedded else "Redis broker"
    console.print(f"storywire: database {current.sqlalchemy_url.split('@')[-1]}, {mode}")
    _celery(
        [
            "worker",
            "--beat",
            "--queues",
            ",".join(QUEUES),
            "--concurrency",
            str(concurrency or current.concurrency),
            "--loglevel",
            current.log_level,
            *(extra or []),
        ]
    )


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = ",".join(QUEUES),
    concurrency: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    extra: ExtraArgs = None,
) -> None:
    """Run a Celery worker (no beat): the production process type."""
    current = _service_settings()
    _celery(
        [
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency or current.concurrency),
            "--loglevel",
            current.log_level,
            *(extra or []),
        ]
    )


def beat(extra: ExtraArgs = None) -> None:
    """Run the beat scheduler (exactly one per deployment)."""
    current = _service_settings()
    _celery(["beat", "--loglevel", current.log_level, *(extra or [])])


DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override DATABASE_URL for this command.")
]


def _database(database_url: str | None) -> str:
    """The URL a ``db`` command works on, checked: reachable, a supported kind."""
    if database_url:
        try:
            url = check_database_url(database_url)
        except ValueError as exc:
            raise fail(f"--database-url: {exc}", code=2) from exc
    else:
        url = settings().sqlalchemy_url
        if settings().database_url is None:
            ensure_data_dir(settings())
    check_database(url)
    return url


@db_app.command("upgrade")
def db_upgrade(revision: str = "head", database_url: DatabaseUrl = None) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    url = _database(database_url)
    upgrade(url, revision)
    console.print(f"database at revision {current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(revision: str, database_url: DatabaseUrl = None) -> None:
    """Revert migrations down to REVISION ("base" removes every table)."""
    url = _database(database_url)
    downgrade(url, revision)
    console.print(f"database at revision {current_revision(url)}")


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Show the database's revision and the latest one."""
    url = _database(database_url)
    console.print(f"current: {current_revision(url)}  head: {head_revision()}")
