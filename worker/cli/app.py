"""The root ``storywire`` Typer app: commands and groups from the sibling modules."""

from __future__ import annotations

import typer

from worker.cli.articles import articles_app, extract
from worker.cli.consumers import changes, export, runs_app
from worker.cli.feeds import feeds_app
from worker.cli.fetch import fetch
from worker.cli.service import beat, db_app, run, worker
from worker.cli.stories import cluster, stories_app
from worker.logs import quiet_libraries

app = typer.Typer(
    name="storywire",
    help="Storywire: news ingestion worker (feeds → articles → stories → database).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _startup() -> None:
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
app.add_typer(db_app, name="db")
app.add_typer(feeds_app, name="feeds")
app.add_typer(articles_app, name="articles")
app.add_typer(runs_app, name="runs")
app.add_typer(stories_app, name="stories")
