"""Start-up time of the `storywire` command, against references measured in the same run.

    .venv/bin/python bench/cli_startup.py [--runs 15]

Prints the median and best wall time of `storywire --help` and `storywire feeds --help`
beside a bare interpreter (`python -c pass`) and one that only imports Typer and Rich (the
floor of any Typer command). The goal is `--help` under 0.5 s; the figures depend on how
busy the machine is, hence the references.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import REPO_ROOT

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import typer, rich": [sys.executable, "-c", "import typer, rich.console, rich.text"],
    "storywire --help": [sys.executable, "-m", "worker", "--help"],
    "storywire feeds --help": [sys.executable, "-m", "worker", "feeds", "--help"],
    "storywire --version": [sys.executable, "-m", "worker", "--version"],
}


def wall_times(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=REPO_ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"{'command':<26} {'median':>8} {'best':>8}   ({args.runs} runs each, interleaved)")
    results: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):  # interleaved, so a busy moment hits every command alike
        for name, argv in COMMANDS.items():
            results[name] += wall_times(argv, 1)
    for name, times in results.items():
        print(f"{name:<26} {statistics.median(times):>7.3f}s {min(times):>7.3f}s")


if __name__ == "__main__":
    main()
