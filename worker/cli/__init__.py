"""The ``storywire`` command line (Typer + Rich).

storywire run                      worker + beat on the configured (or embedded) backends
storywire db upgrade               apply migrations
storywire feeds add URL            register a feed (also: import, export, list, remove)
storywire fetch [FEED ...] --all   one-off fetch (enqueued, or --inline in this process)
storywire articles list|show       read what was stored
storywire extract FILE_OR_URL      what the pipeline would store for one page
"""

from __future__ import annotations

from worker.cli.app import app
from worker.cli.errors import run_cli


def main() -> None:
    run_cli(app)


__all__ = ["app", "main"]
