"""Start and stop the real ``storywire`` processes that end-to-end tests drive."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

STORYWIRE = [sys.executable, "-m", "worker"]


def storywire_env(**overrides: str) -> dict[str, str]:
    """The caller's environment without any deployment URLs, plus the overrides."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("STORYWIRE_")
    }
    env.update(overrides)
    return env


def run_cli(args: list[str], env: Mapping[str, str], timeout: float = 120) -> str:
    """Run one ``storywire`` command to completion; fail with its output if it fails."""
    done = subprocess.run(
        [*STORYWIRE, *args], env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"storywire {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_storywire(
    args: list[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one ``storywire`` command to completion, whatever its exit status; stdin empty
    and stdout/stderr pipes (so not a terminal)."""
    return subprocess.run(
        [*STORYWIRE, *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_python(code: str, timeout: float = 120) -> str:
    """Run ``code`` in a fresh interpreter from the checkout (nothing this test process has
    imported or set counts); fail with its output if it fails; return its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, f"python -c failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Process:
    """A background ``storywire`` (or ``program``) process whose output goes to a log file."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        program: list[str] | None = None,
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            [*(STORYWIRE if program is None else program), *args],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so stop() can signal the whole process group
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    # A warm shutdown waits for the tasks in hand; a busy machine can make that long.
    def stop(self, timeout: float = 120) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        # Whatever of its group outlived it (a pool child the main process left behind)
        # must not outlive the test.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def end(popen: subprocess.Popen[Any], timeout: float = 60) -> None:
    """SIGTERM, and SIGKILL if it is still there after ``timeout``: never left running."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    processes: tuple[Process, ...] = (),
    interval: float = 0.5,
) -> None:
    """Poll until ``condition()`` holds; on timeout fail with the processes' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for process in processes:
            if not process.alive():
                raise AssertionError(f"process exited early:\n{process.output()[-5000:]}")
        time.sleep(interval)
    logs = "\n\n".join(p.output()[-5000:] for p in processes)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
