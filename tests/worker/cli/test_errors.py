"""Errors a person can read: the real ``storywire`` command, one line on stderr, exit 2, no
traceback unless asked for (issue 19, item 4).

Every case runs the installed command in a subprocess whose stderr is a pipe, as under a
supervisor or in CI: that is where Rich used to wrap at 80 columns and tracebacks ran to
hundreds of lines.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.processes import run_storywire, storywire_env
from worker.cli.errors import explain
from worker.config import Settings


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    return storywire_env(STORYWIRE_DATA_DIR=str(tmp_path / "data"), **overrides)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: …`` line of a command that failed as a person's error."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def test_unreachable_database_host(tmp_path: Path, dead_port: int) -> None:
    url = f"postgresql://reader:s3cret@127.0.0.1:{dead_port}/news"
    line = one_error_line(run_storywire(["feeds", "list"], _env(tmp_path, DATABASE_URL=url)))
    assert "cannot connect to the database" in line and "DATABASE_URL" in line
    assert f"127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}" in line
    assert "s3cret" not in line  # the password is never echoed


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:s3cret@db.example/news", "'mysql' databases are not supported"),
        ("notaurl", "not a database URL"),
        ("postgresql://", "no host"),
    ],
)
def test_database_url_of_the_wrong_kind(tmp_path: Path, url: str, says: str) -> None:
    line = one_error_line(run_storywire(["feeds", "list"], _env(tmp_path, DATABASE_URL=url)))
    assert line.startswith("error: DATABASE_URL: ") and says in line
    assert "sqlite:///PATH or postgresql://" in line  # how to fix it
    assert "s3cret" not in line


def test_bad_database_url_option(tmp_path: Path) -> None:
    done = run_storywire(["db", "current", "--database-url", "mysql://u@h/x"], _env(tmp_path))
    assert "--database-url: 'mysql' databases are not supported" in one_error_line(done)


def test_unreachable_redis_for_the_worker(tmp_path: Path, dead_port: int) -> None:
    env = _env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{dead_port}/0")
    line = one_error_line(run_storywire(["worker"], env))  # after 10 s of trying
    assert "cannot reach Redis at 127.0.0.1:" in line and "check REDIS_URL" in line


def test_unreachable_redis_for_fetch_records_no_run(tmp_path: Path, dead_port: int) -> None:
    env = _env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{dead_port}/0")
    line = one_error_line(run_storywire(["fetch", "--all"], env))
    assert "cannot reach Redis at 127.0.0.1:" in line and "check REDIS_URL" in line
    del env["REDIS_URL"]
    listing = run_storywire(["runs", "list"], env)
    assert listing.returncode == 0, listing.stderr
    assert "fetch" not in listing.stdout  # no run left behind that nothing could enqueue


BAD_SETTINGS = [
    ("STORYWIRE_CONCURRENCY", "abc", "is not an integer; allowed: an integer from 1 to 256"),
    ("STORYWIRE_LOG_LEVEL", "loud", "allowed: one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("REDIS_URL", "http://cache.example/0", "'http' URLs are not supported"),
]


def test_bad_setting(tmp_path: Path) -> None:
    # The real command once (a process costs a second of CPU); every message in-process below.
    variable, value, says = BAD_SETTINGS[0]
    line = one_error_line(run_storywire(["feeds", "list"], _env(tmp_path, **{variable: value})))
    assert line.startswith(f"error: {variable}") and says in line


@pytest.mark.parametrize(("variable", "value", "says"), BAD_SETTINGS)
def test_bad_setting_says_what_is_allowed(
    variable: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    (message,) = explain(raised.value)
    assert message.startswith(variable) and says in message


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("STORYWIRE_CONCURRENCY", "0", "STORYWIRE_CONCURRENCY='0' is out of range"),
        ("STORYWIRE_OBEY_ROBOTS", "maybe", "STORYWIRE_OBEY_ROBOTS='maybe' is not true or false"),
        ("STORYWIRE_USER_AGENT", "Bot\r\nX-Evil: 1", "STORYWIRE_USER_AGENT='Bot\\r\\nX-Evil: 1'"),
        ("STORYWIRE_CONTACT_URL", "javascript:alert(1)", "STORYWIRE_CONTACT_URL: must be empty"),
        ("DATABASE_URL", "postgresql://u:s3cret@/x", "DATABASE_URL: no host in the URL"),
        (
            "STORYWIRE_MIN_INTERVAL_S",
            "90000",
            "settings: STORYWIRE_MIN_INTERVAL_S (90000) is above",
        ),
    ],
)
def test_bad_setting_message(
    variable: str, value: str, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    (message,) = explain(raised.value)
    assert message.startswith(line), message
    assert "s3cret" not in message


def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = storywire_env(STORYWIRE_DATA_DIR=str(blocker / "data"))
    for command in (["feeds", "list"], ["worker"]):
        line = one_error_line(run_storywire(command, env))
        assert f"cannot create the data directory '{blocker / 'data'}'" in line
        assert "set STORYWIRE_DATA_DIR" in line


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    line = one_error_line(run_storywire(["feeds", "lst"], _env(tmp_path)))
    assert "No such command 'lst'" in line and "storywire feeds --help" in line
    line = one_error_line(run_storywire(["feeds", "list", "--bogus"], _env(tmp_path)))
    assert "No such option: --bogus" in line


def test_errors_stay_on_one_line_at_any_width(tmp_path: Path) -> None:
    # A narrow COLUMNS and no terminal: Rich used to wrap "3 unusable lines" across lines.
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"title": "no id"}\nnot json\n{"id": 2, "published_at": "soon", "text": "x"}\n'
    )
    env = _env(tmp_path, COLUMNS="20")
    done = run_storywire(["cluster", str(path)], env)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1] == f"error: {path}: 3 unusable lines; nothing was clustered"
    assert [line.split(": ", 1)[0] for line in lines[:-1]] == [f"{path}:{n}" for n in (1, 2, 3)]
    line = one_error_line(
        run_storywire(["feeds", "list"], {**env, "STORYWIRE_MAX_RESPONSE_BYTES": "-1"})
    )
    assert line.endswith("allowed: an integer from 1024 to 1073741824")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = _env(tmp_path, STORYWIRE_CONCURRENCY="abc")
    for done in (
        run_storywire(["--debug", "feeds", "list"], env),
        run_storywire(["feeds", "list"], {**env, "STORYWIRE_DEBUG": "1"}),
    ):
        assert done.returncode == 2
        assert "Traceback" in done.stderr
        assert done.stderr.splitlines()[-1].startswith("error: STORYWIRE_CONCURRENCY='abc'")


def test_consumer_command_on_an_empty_database(tmp_path: Path, pg_url: str) -> None:
    # A consumer command on a database nobody migrated says what to run, not a traceback.
    done = run_storywire(["changes"], _env(tmp_path, DATABASE_URL=pg_url))
    assert "run `storywire db upgrade` first" in one_error_line(done)
