"""Procfile: the three process types, parsed by honcho's own Procfile parser.

(`honcho start` running them against the embedded defaults: test_procfile_under_honcho in
tests/e2e/test_pipeline_e2e.py.)
"""

from __future__ import annotations

import shlex
import tomllib

from honcho.environ import parse_procfile

from tests.support.services import REPO_ROOT

PROCFILE = REPO_ROOT / "Procfile"


def _processes() -> dict[str, str]:
    return dict(parse_procfile(PROCFILE.read_text()).processes)


def test_process_types() -> None:
    processes = _processes()
    assert processes == {
        "release": "storywire db upgrade",
        "worker": "storywire worker",
        "beat": "storywire beat",
    }
    # Nothing silently dropped by the parser (a typo'd line would not match its pattern).
    lines = [line for line in PROCFILE.read_text().splitlines() if line.strip()]
    assert len(lines) == len(processes)


def test_commands_run_the_console_script() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "storywire" in scripts
    for name, command in _processes().items():
        assert shlex.split(command)[0] == "storywire", f"{name}: {command}"
