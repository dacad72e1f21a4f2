"""The root ``storywire`` Typer app: commands and groups from the sibling modules."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli._help import use_plain_help
from worker.cli.articles import articles_app, extract
from worker.cli.consumers import changes, export, runs_app
from worker.cli.errors import DEBUG_ENV, show_tracebacks
from worker.cli.feeds import feeds_app
from worker.cli.fetch import fetch
from worker.cli.monitor import health, status
from worker.cli.service import beat, db_app, metrics, run, worker
from worker.cli.stories import cluster, stories_app
from worker.logs import quiet_libraries

use_plain_help()

app = typer.Typer(
    name="storywire",
    help="Storywire: news ingestion worker (feeds → articles → stories → database).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as package_version

        try:
            typer.echo(f"storywire {package_version('storywire')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("storywire (not installed)")
        raise typer.Exit()


@app.callback()
def _root_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar=DEBUG_ENV, help="Show the traceback of an error (for a bug report)."
        ),
    ] = False,
) -> None:
    """Storywire: news ingestion worker (feeds → articles → stories → database)."""
    show_tracebacks(debug)
    # Before any command: library logs quieted here rather than at import (see worker.logs).
    quiet_libraries()


app.command()(run)
app.command()(worker)
app.command()(beat)
app.command()(fetch)
app.command()(extract)
app.command()(changes)
app.command()(export)
app.command()(cluster)
app.command()(health)
app.command()(status)
app.command()(metrics)
app.add_typer(db_app, name="db")
app.add_typer(feeds_app, name="feeds")
app.add_typer(articles_app, name="articles")
app.add_typer(runs_app, name="runs")
app.add_typer(stories_app, name="stories")
