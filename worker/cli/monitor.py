"""``storywire health`` and ``storywire status``: is it working, and what is it doing."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from worker.cli._context import JsonFlag, console, emit_table, fail, print_json, settings


def health(
    checks: Annotated[
        str,
        typer.Option(
            "--checks",
            help="Comma-separated checks to run (default: all).",
            metavar="database,migrations,broker,beat,worker",
        ),
    ] = "database,migrations,broker,beat,worker",
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="Count only the beat and workers on this host (a container's own)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check the database, its migrations, the broker, the beat and the workers.

    One line per check; exit 0 when all pass, 1 otherwise (a container HEALTHCHECK, a
    monitoring probe). The same checks answer GET /healthz beside /metrics.
    """
    import socket

    from worker.monitoring.checks import run_checks

    wanted = [name.strip() for name in checks.split(",") if name.strip()]
    try:
        report = run_checks(settings(), only=wanted, host=socket.gethostname() if local else None)
    except ValueError as exc:
        raise fail(str(exc), code=2) from exc
    if as_json:
        print_json(report.as_dict())
    else:
        width = max((len(c.name) for c in report.checks), default=0)
        for check in report.checks:
            mark = "[green]ok  [/green]" if check.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {check.name:<{width}}  ", end="", highlight=False)
            console.print(check.detail, markup=False, highlight=False)
    raise typer.Exit(0 if report.ok else 1)


def status(as_json: JsonFlag = False) -> None:
    """One screen: feeds, queue backlog, articles and stories lately, the change feed, the
    beat, the workers and the last runs."""
    from worker.monitoring.status import take_snapshot

    snapshot = take_snapshot(settings())
    if as_json:
        print_json(snapshot)
        return
    lines = [
        ("database", snapshot["database"]),
        ("feeds", _feeds(snapshot["feeds"])),
        ("queues", _pairs(snapshot["queues"], "waiting")),
        ("articles", _recent(snapshot["articles"])),
        ("stories", _recent(snapshot["stories"])),
        ("changes", _changes(snapshot["changes"])),
        ("beat", _beat(snapshot["beat"])),
        ("workers", _workers(snapshot["workers"])),
    ]
    for name, text in lines:
        console.print(f"{name:<9} {text}", markup=False, highlight=False)
    runs = snapshot["runs"]
    if isinstance(runs, dict):
        console.print(f"runs      {runs['error']}", markup=False, highlight=False)
        return
    console.print()
    emit_table(
        ["run", "kind", "status", "started", "finished", "host", "pid"],
        (
            [
                str(r["id"]),
                r["kind"],
                r["status"],
                _time(r["started_at"]),
                _time(r["finished_at"]),
                r["host"] or "-",
                str(r["pid"] or "-"),
            ]
            for r in runs
        ),
    )


def _error(part: Any) -> str | None:
    return f"unavailable: {part['error']}" if isinstance(part, dict) and "error" in part else None


def _feeds(part: dict[str, Any]) -> str:
    if error := _error(part):
        return error
    return (
        f"{part['total']} total: {part['ok']} ok, {part['erroring']} erroring, {part['gone']} "
        f"gone, {part['disabled']} disabled; {part['due_now']} due now, {part['overdue']} overdue"
    )


def _pairs(part: dict[str, Any], what: str) -> str:
    if error := _error(part):
        return error
    return ", ".join(f"{name} {count}" for name, count in part.items()) + f" {what}"


def _recent(part: dict[str, Any]) -> str:
    if error := _error(part):
        return error
    text = f"{part['last_hour']} in the last hour, {part['last_day']} in the last day"
    if part.get("by_status"):
        text += " (stored: " + _pairs(part["by_status"], "").strip() + ")"
    return text


def _changes(part: dict[str, Any]) -> str:
    if error := _error(part):
        return error
    if not part["head_id"]:
        return "none yet"
    return f"head {part['head_id']}, {_age(part['age_s'])} ago"


def _beat(part: dict[str, Any]) -> str:
    if error := _error(part):
        return error
    if part["last_tick_at"] is None:
        return "no tick recorded"
    return f"last tick {_age(part['age_s'])} ago"


def _workers(part: Any) -> str:
    if error := _error(part):
        return error
    if not part:
        return "none alive"
    return f"{len(part)} alive: " + ", ".join(f"{w['host']}:{w['pid']}" for w in part)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _time(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
