"""Settings out of their range stop the process at start (issue 15, item 4): one line naming
the variable and what it allows, exit 2, nothing started. ``CHANGES_RETENTION_DAYS=-1`` used
to empty the change feed within the hour, ``MAX_ENTRIES_PER_FETCH=-1`` to store nothing and
report ok.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.processes import run_storywire, storywire_env
from worker.cli.errors import explain
from worker.config import Settings, allowed

# (variable, value) pairs the attack tried, or their neighbours at the edge of the range.
OUT_OF_RANGE = [
    ("STORYWIRE_CHANGES_RETENTION_DAYS", "-1"),
    ("STORYWIRE_CHANGES_RETENTION_DAYS", "0"),
    ("STORYWIRE_MAX_ENTRIES_PER_FETCH", "-1"),
    ("STORYWIRE_MAX_ENTRIES_PER_FETCH", "0"),
    ("STORYWIRE_CONNECT_TIMEOUT_S", "0"),
    ("STORYWIRE_READ_TIMEOUT_S", "-3"),
    ("STORYWIRE_TOTAL_TIMEOUT_S", "0"),
    ("STORYWIRE_HOST_RATE_PER_S", "-1"),
    ("STORYWIRE_HOST_RATE_PER_S", "inf"),
    ("STORYWIRE_MAX_RESPONSE_BYTES", "0"),
    ("STORYWIRE_MAX_RESPONSE_BYTES", "-1"),
    ("STORYWIRE_SYNDICATION_WINDOW_DAYS", "1e9"),
    ("STORYWIRE_DISPATCH_INTERVAL_S", "0"),
]


@pytest.mark.parametrize(("variable", "value"), OUT_OF_RANGE)
def test_a_setting_out_of_range_is_one_line_naming_it(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    field = variable.removeprefix("STORYWIRE_").lower()
    assert explain(raised.value) == [
        f"{variable}={value!r} is out of range; allowed: {allowed(field)}"
    ]


# One case through each process that would have acted on it: the real command, at start.
_COMMANDS = [["worker"], ["beat"], ["run"], ["fetch", "--all", "--inline"]]
_CASES = [(command, *OUT_OF_RANGE[2 * n]) for n, command in enumerate(_COMMANDS)]


@pytest.mark.parametrize(("command", "variable", "value"), _CASES)
def test_a_setting_out_of_range_stops_the_process(
    tmp_path: Path, command: list[str], variable: str, value: str
) -> None:
    env = storywire_env(STORYWIRE_DATA_DIR=str(tmp_path / "data"), **{variable: value})
    done = run_storywire(command, env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    field = variable.removeprefix("STORYWIRE_").lower()
    assert done.stderr.splitlines() == [
        f"error: {variable}={value!r} is out of range; allowed: {allowed(field)}"
    ]
    assert not (tmp_path / "data").exists()  # nothing was started, not even the data dir


@pytest.mark.parametrize(
    "field",
    sorted(name for name, info in Settings.model_fields.items() if info.annotation in (int, float)),
)
def test_every_number_has_a_lower_and_an_upper_bound(field: str) -> None:
    info = Settings.model_fields[field]
    kinds = {type(item).__name__ for item in info.metadata}
    assert kinds & {"Ge", "Gt"} and kinds & {"Le", "Lt"}, f"{field} is unbounded: {kinds}"
    default = info.default
    assert Settings(**{field: default}) is not None  # the default is inside its own range
    with pytest.raises(ValidationError):
        Settings(**{field: -1})
    with pytest.raises(ValidationError):
        Settings(**{field: 10**12})
