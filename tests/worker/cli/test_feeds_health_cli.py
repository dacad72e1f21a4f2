"""`storywire feeds list` / `feeds log` show each fetch's trace: result, time, size, entries."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.worker.cli.conftest import ok
from worker.cli import app


def _row(output: str, needle: str) -> list[str]:
    (line,) = [line for line in output.splitlines() if needle in line]
    return line.split("\t")


def test_list_and_log_show_the_trace(cli: CliRunner, http_server: LocalHTTPServer) -> None:
    feeds = serve_site(http_server)
    http_server.add("/dead.xml", "no", status=503, content_type="text/plain")
    dead = http_server.url("/dead.xml")
    ok(cli, "feeds", "add", feeds["world"], dead)
    ok(cli, "fetch", "--inline", "--all")

    listing = ok(cli, "feeds", "list")
    world = _row(listing, "world.xml")
    # id, url, status, last fetch, result, took, size, new/seen, errors, next check
    assert world[2] == "active"
    assert world[3].endswith("ago")
    assert world[4] == "200"
    assert world[5].endswith(("ms", " s"))
    assert world[6].endswith("kB")
    assert world[7] == "3/3"
    assert world[8] == "0"
    assert world[9].startswith("in ")
    failing = _row(listing, "dead.xml")
    assert failing[2] == "erroring"
    assert failing[4] == "http_503"
    assert failing[7] == "0/0"
    assert failing[8] == "1"

    only_errors = ok(cli, "feeds", "list", "--errors")
    assert "dead.xml" in only_errors and "world.xml" not in only_errors
    assert _row(only_errors, "dead.xml")[-1] == "HTTP 503"

    log = ok(cli, "feeds", "log", dead)
    assert "1 consecutive errors" in log
    entry = _row(log, "http_503")
    assert entry[1:3] == ["error", "http_503"]
    assert entry[-1] == "HTTP 503"
    world_log = _row(ok(cli, "feeds", "log", "1"), "3/3")
    assert world_log[1:3] == ["ok", "200"]

    assert cli.invoke(app, ["feeds", "log", "999"]).exit_code != 0
