"""storywire changes / export / runs, and provenance of a one-off fetch."""

from __future__ import annotations

import csv
import io
import json
import re

from typer.testing import CliRunner

from tests.e2e.site import serve_site
from tests.support.httpserver import LocalHTTPServer
from tests.worker.cli.conftest import ok
from worker.cli import app


def test_fetch_run_changes_export(cli: CliRunner, http_server: LocalHTTPServer) -> None:
    feeds = serve_site(http_server)
    out = ok(cli, "fetch", "--inline", feeds["world"], feeds["local"])
    run_id = int(re.search(r"run (\d+)", out).group(1))  # type: ignore[union-attr]

    run = json.loads(ok(cli, "runs", "show", str(run_id)))
    assert run["kind"] == "fetch"
    assert run["status"] == "finished"
    assert run["articles"]["total"] == 4
    assert run["articles"]["ok"] == 4
    assert run["stats"]["new_articles"] == 4
    assert str(run_id) in ok(cli, "runs", "list")

    lines = [json.loads(line) for line in ok(cli, "changes").splitlines()]
    ids = [c["id"] for c in lines]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    created = [c for c in lines if c["kind"] == "article.created"]
    assert len(created) == 4
    assert all(c["payload"]["v"] == 1 and c["payload"]["run_id"] == run_id for c in created)
    only = ok(cli, "changes", "--kinds", "feed.created", "--since", "0").splitlines()
    assert [json.loads(x)["kind"] for x in only] == ["feed.created", "feed.created"]
    tail = ok(cli, "changes", "--since", str(ids[-2])).splitlines()
    assert [json.loads(x)["id"] for x in tail] == [ids[-1]]

    rows = [json.loads(line) for line in ok(cli, "export").splitlines()]
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"ok"}
    assert all(r["run_id"] == run_id and r["feed_url"] for r in rows)
    last = max(r["last_change_id"] for r in rows)
    assert ok(cli, "export", "--since", str(last)) == ""

    table = list(csv.DictReader(io.StringIO(ok(cli, "export", "--format", "csv"))))
    assert len(table) == 4
    assert json.loads(table[0]["authors"])


def test_runs_show_unknown(cli: CliRunner) -> None:
    assert cli.invoke(app, ["runs", "show", "42"]).exit_code == 1
