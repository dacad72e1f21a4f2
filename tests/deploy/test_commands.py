"""Every command the Procfile and docker-compose.yml start is a real `storywire` command.

`--help` is eager: the CLI parses the whole command line (an unknown option fails) and then
prints help instead of running. Running them is tested elsewhere: `honcho start` against the
embedded defaults in tests/e2e/test_pipeline_e2e.py (test_procfile_under_honcho).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from honcho.environ import parse_procfile

from tests.support.services import REPO_ROOT


def _deploy_commands() -> list[list[str]]:
    commands: list[str] = list(
        parse_procfile((REPO_ROOT / "Procfile").read_text()).processes.values()
    )
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    for service in compose["services"].values():
        healthcheck = service.get("healthcheck", {}).get("test")
        if healthcheck and healthcheck[0] == "CMD":
            commands.append(shlex.join(healthcheck[1:]))
        command = service.get("command")
        if command is None:
            continue
        argv = command if isinstance(command, list) else shlex.split(command)
        if argv[:2] == ["sh", "-c"]:
            commands.extend(part.strip() for part in argv[2].split("&&"))
        else:
            commands.append(shlex.join(argv))
    storywire = [shlex.split(c) for c in commands if c.startswith("storywire ")]
    # Deduplicate, keep order: the same command in both files is checked once.
    return [list(c) for c in dict.fromkeys(tuple(c) for c in storywire)]


def test_commands_found() -> None:
    found = {tuple(c[:3]) for c in _deploy_commands()}
    assert ("storywire", "db", "upgrade") in found
    assert ("storywire", "feeds", "import") in found
    assert {c[:2] for c in found} >= {
        ("storywire", "worker"),
        ("storywire", "beat"),
        ("storywire", "health"),
        ("storywire", "metrics"),
    }


@pytest.mark.parametrize("argv", _deploy_commands(), ids=shlex.join)
def test_command_is_accepted_by_the_cli(argv: list[str]) -> None:
    script = Path(sys.executable).parent / "storywire"
    assert script.exists(), f"{script} missing: run `pip install -e '.[dev]'`"
    result = subprocess.run(
        [str(script), *argv[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{shlex.join(argv)}:\n{result.stdout}\n{result.stderr}"
