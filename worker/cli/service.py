"""Long-running processes and the database schema: run, worker, beat, metrics, db.

Imports of Celery, SQLAlchemy and the pipeline happen inside the commands: ``storywire
--help`` (and every command that does not need them) starts without paying for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worker.cli._context import console, err_console, fail, settings

if TYPE_CHECKING:
    from worker.config import Settings

db_app = typer.Typer(
    help="Database schema (Alembic migrations).", no_args_is_help=True, rich_markup_mode=None
)

#: The queues every command consumes by default (worker.celery_app.QUEUES, without its import).
ALL_QUEUES = "feeds,articles,stories"
#: Port of `storywire metrics` when neither --port nor STORYWIRE_METRICS_PORT is given.
DEFAULT_METRICS_PORT = 9808

ExtraArgs = Annotated[
    list[str] | None,
    typer.Argument(
        help="Extra arguments for Celery, after `--` (e.g. `-- --max-tasks-per-child 100`).",
        metavar="[-- CELERY_ARGS...]",
    ),
]
Events = Annotated[
    bool,
    typer.Option("--events", "-E", help="Send task events (for Flower or `celery events`)."),
]


def _celery(argv: list[str]) -> None:
    _check_xml_parser()
    from worker.celery_app import app as celery_app

    celery_app.start(argv)


def _service_settings() -> Settings:
    """Settings of a long-running process, once its data dir, database and broker are there
    (each given a few seconds: they may be starting beside it)."""
    from worker.cli.preflight import (
        DEFAULT_SERVICE_WAIT_S,
        check_broker,
        check_database,
        ensure_data_dir,
    )

    current = settings()
    ensure_data_dir(current)
    check_database(current.sqlalchemy_url, wait_s=DEFAULT_SERVICE_WAIT_S)
    check_broker(current, wait_s=DEFAULT_SERVICE_WAIT_S)
    return current


def _check_xml_parser() -> None:
    from worker.feeds.expat import UnsafeXMLParser, check_expat

    # Before any feed is parsed: refuse an Expat without the protections we rely on.
    try:
        warning = check_expat(strict=settings().strict_expat)
    except UnsafeXMLParser as exc:
        raise fail(str(exc)) from exc
    if warning:
        err_console.print(f"[yellow]warning:[/yellow] {warning}")


def _serve_metrics(current: Settings, *, port: int | None, shared: bool) -> None:
    """/metrics and /healthz in a thread of this process (before Celery forks its pool:
    ``shared`` makes the pool children's metrics visible here)."""
    if port is None:
        return
    from worker import metrics

    if shared:
        metrics.prepare_multiprocess(current.data_dir)
    from worker.monitoring.server import serve

    try:
        serve(current, port=port)
    except OSError as exc:
        raise fail(
            f"cannot serve metrics on {current.metrics_host}:{port} ({exc.strerror or exc}); "
            "set STORYWIRE_METRICS_PORT to a free port",
            code=2,
        ) from exc
    err_console.print(f"metrics and health on http://{current.metrics_host}:{port}/metrics")


def _worker_argv(queues: str, concurrency: int, current: Settings, events: bool) -> list[str]:
    argv = ["worker", "--queues", queues, "--concurrency", str(concurrency)]
    # Gossip and mingle synchronise workers' remote-control state, which Storywire does not
    # use (its state is in the database). Gossip's channel, closed after the broker went
    # away, can kill the worker's main process on a Redis restart (kombu#582).
    argv += ["--loglevel", current.log_level, "--without-gossip", "--without-mingle"]
    return [*argv, "--task-events"] if events else argv


def run(
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default: STORYWIRE_CONCURRENCY).")
    ] = None,
    events: Events = False,
    extra: ExtraArgs = None,
) -> None:
    """Run a worker with its beat schedule embedded: everything in one command.

    With no configuration this uses a SQLite database and a SQLite broker in
    STORYWIRE_DATA_DIR; set DATABASE_URL and REDIS_URL for Postgres + Redis.
    """
    from worker.lifecycle import track_beat_ticks
    from worker.migrations import upgrade

    current = _service_settings()
    if current.auto_migrate:
        upgrade(current.sqlalchemy_url)
    mode = "embedded (SQLite, no server)" if current.embedded else "Redis broker"
    console.print(f"storywire: database {current.sqlalchemy_url.split('@')[-1]}, {mode}")
    _serve_metrics(current, port=current.metrics_port, shared=True)
    track_beat_ticks(current)
    argv = _worker_argv(ALL_QUEUES, concurrency or current.concurrency, current, events)
    _celery([*argv[:1], "--beat", *argv[1:], *(extra or [])])


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = ALL_QUEUES,
    concurrency: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    events: Events = False,
    extra: ExtraArgs = None,
) -> None:
    """Run a Celery worker (no beat): the production process type."""
    current = _service_settings()
    _serve_metrics(current, port=current.metrics_port, shared=True)
    argv = _worker_argv(queues, concurrency or current.concurrency, current, events)
    _celery([*argv, *(extra or [])])


def beat(extra: ExtraArgs = None) -> None:
    """Run the beat scheduler (exactly one per deployment)."""
    from worker.lifecycle import track_beat_ticks

    current = _service_settings()
    track_beat_ticks(current)
    _celery(["beat", "--loglevel", current.log_level, *(extra or [])])


def metrics(
    port: Annotated[
        int | None,
        typer.Option(help=f"Port (default: STORYWIRE_METRICS_PORT, else {DEFAULT_METRICS_PORT})."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address (default: STORYWIRE_METRICS_HOST).")
    ] = None,
) -> None:
    """Serve the deployment's gauges at /metrics and its health at /healthz.

    Queue depths, feeds due, articles by status, the change feed's head, heartbeats: what
    every process of a deployment shares. Each worker serves its own counters and
    histograms on STORYWIRE_METRICS_PORT.
    """
    import threading

    from worker.monitoring.server import serve

    current = settings()
    chosen = port or current.metrics_port or DEFAULT_METRICS_PORT
    try:
        server = serve(current, port=chosen, host=host)
    except OSError as exc:
        raise fail(f"cannot listen on port {chosen}: {exc.strerror or exc}", code=2) from exc
    console.print(f"metrics and health on http://{host or current.metrics_host}:{chosen}/metrics")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override DATABASE_URL for this command.")
]


def _database(database_url: str | None) -> str:
    """The URL a ``db`` command works on, checked: reachable, a supported kind."""
    from worker.cli.preflight import check_database, ensure_data_dir
    from worker.config import check_database_url

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
    from worker.migrations import current_revision, upgrade

    url = _database(database_url)
    upgrade(url, revision)
    console.print(f"database at revision {current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(revision: str, database_url: DatabaseUrl = None) -> None:
    """Revert migrations down to REVISION ("base" removes every table)."""
    from worker.migrations import current_revision, downgrade

    url = _database(database_url)
    downgrade(url, revision)
    console.print(f"database at revision {current_revision(url)}")


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Show the database's revision and the latest one."""
    from worker.migrations import current_revision, head_revision

    url = _database(database_url)
    console.print(f"current: {current_revision(url)}  head: {head_revision()}")
