"""Errors a person can read: one line saying what is wrong and how to fix it, exit 2.

Usage::

    raise UserError("cannot reach Redis at 127.0.0.1:6379: connection refused; check REDIS_URL")

``run_cli(app)`` (the ``storywire`` entry point) runs the Typer app and turns every error a
person can fix — a setting out of range, a database or broker that cannot be reached, a data
dir that cannot be created, a mistyped option — into ``error: …`` on one line of stderr,
whatever the terminal width, and exit status 2. A traceback is shown only with
``storywire --debug …`` or ``STORYWIRE_DEBUG=1``; anything not recognised here is a bug and
keeps its traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING, NoReturn

import click
import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails
    from sqlalchemy.exc import OperationalError, ProgrammingError

#: Exit status of an error the user can fix (as for a command-line usage error).
EXIT_USER_ERROR = 2
#: Exit status after Ctrl-C, as shells report SIGINT.
EXIT_INTERRUPTED = 130
#: Environment variable that shows tracebacks, like ``--debug``.
DEBUG_ENV = "STORYWIRE_DEBUG"

_PLAIN_NAMES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}
# Values never echoed back: a URL may carry a password.
_SECRET_FIELDS = frozenset({"database_url", "redis_url", "DATABASE_URL", "REDIS_URL"})
_debug = False

# soft_wrap: an error is one line whatever the width (stderr is often a pipe, where Rich
# would otherwise wrap at 80 columns or at $COLUMNS).
err_console = Console(stderr=True, soft_wrap=True)


class UserError(Exception):
    """A problem the person running Storywire can fix; its message is the one line shown."""


def show_tracebacks(enabled: bool = True) -> None:
    """Show the traceback of every error (``--debug``)."""
    global _debug
    _debug = enabled


def print_error(message: str) -> None:
    """``error: MESSAGE`` on stderr, on one line, without interpreting markup in it."""
    err_console.print(Text.assemble(("error:", "red"), " ", one_line(message)))


def one_line(message: str) -> str:
    return " ".join(message.split())


def run_cli(app: typer.Typer) -> NoReturn:
    """Run ``app`` as the ``storywire`` command and exit with its status."""
    try:
        status = app(prog_name="storywire", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort, click.exceptions.Abort):
        sys.exit(EXIT_INTERRUPTED)
    except (typer.TyperException, click.exceptions.ClickException) as exc:
        # A usage error (unknown option or command, bad value of an option): Typer would
        # draw a box as wide as the terminal around it.
        context = getattr(exc, "ctx", None)
        command = getattr(context, "command_path", None)
        hint = f" (see `{command} --help`)" if command else ""
        message = exc.format_message()
        if message.strip():  # empty: a group called bare, its help already printed
            print_error(message + hint)
        sys.exit(exc.exit_code)
    except Exception as exc:
        lines = explain(exc)
        if lines is None:
            raise  # a bug: its traceback is what a report needs
        if _debug or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes"):
            traceback.print_exception(exc)
        for line in lines:
            print_error(line)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(status if isinstance(status, int) else 0)


def explain(exc: BaseException) -> list[str] | None:
    """The lines that tell a person what went wrong, or None for an error that is a bug."""
    # Imported here, not at the top: `storywire --help` must not pay for these libraries.
    from kombu.exceptions import OperationalError as BrokerError
    from pydantic import ValidationError
    from redis import RedisError
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from worker.config import Settings

    if isinstance(exc, UserError):
        return [str(exc)]
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return [_setting_error(error) for error in exc.errors()]
    if isinstance(exc, ProgrammingError | OperationalError) and _missing_table(exc):
        return [
            "the database has no Storywire tables (or not all of them): "
            "run `storywire db upgrade` with a role that may create tables"
        ]
    if isinstance(exc, OperationalError) and _unreachable(exc):
        reason = one_line(str(exc.orig).split("\n", 1)[0]) if exc.orig else "unknown error"
        return [f"database error: {reason}; check DATABASE_URL and that the database is up"]
    if isinstance(exc, BrokerError | RedisError):
        return [f"broker error: {one_line(str(exc))}; check REDIS_URL and that Redis is up"]
    return None


def _setting_error(error: ErrorDetails) -> str:
    from worker.config import Settings, allowed

    loc = error["loc"]
    if not loc:  # a rule between settings: its message names them
        return f"settings: {_reason(error)}"
    name = str(loc[0])
    field = name if name in Settings.model_fields else _field_of(name)
    variable = _PLAIN_NAMES.get(field, f"STORYWIRE_{field.upper()}") if field else name
    if error["type"] == "value_error" or field is None:
        return f"{variable}: {_reason(error)}"  # our own check, which says what to use
    value = "" if name in _SECRET_FIELDS else f"={error['input']!r}"
    why = _SHORT_REASONS.get(error["type"], "not allowed")
    return f"{variable}{value} is {why}; allowed: {allowed(field)}"


_SHORT_REASONS = {
    "int_parsing": "not an integer",
    "int_from_float": "not an integer",
    "float_parsing": "not a number",
    "bool_parsing": "not true or false",
    "finite_number": "not a finite number",
    "greater_than": "out of range",
    "greater_than_equal": "out of range",
    "less_than": "out of range",
    "less_than_equal": "out of range",
    "literal_error": "not one of the choices",
}


def _reason(error: ErrorDetails) -> str:
    return error["msg"].removeprefix("Value error, ")


def _field_of(alias: str) -> str | None:
    for field, plain in _PLAIN_NAMES.items():
        if alias in (plain, f"STORYWIRE_{plain}"):
            return field
    return None


def _unreachable(exc: OperationalError) -> bool:
    # Only the server being away or down is the person's to fix (SQLSTATE classes 08, 57; no
    # code at all when the connection was never made); a limit hit is a bug.
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return not sqlstate or str(sqlstate).startswith(("08", "57"))


def _missing_table(exc: ProgrammingError | OperationalError) -> bool:
    text = str(exc.orig).lower()
    postgres = "does not exist" in text and ("relation" in text or "table" in text)
    return postgres or "no such table" in text  # SQLite
