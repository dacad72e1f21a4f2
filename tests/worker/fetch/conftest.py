"""Fixtures for the HTTP layer: a local server, settings that allow it, a Fetcher.

- ``server``: a started :class:`LocalHTTPServer` on 127.0.0.1.
- ``settings``: ``Settings`` allowing private networks (the server is on loopback), no
  per-host rate limit (tests hit 127.0.0.1 many times), generous timeouts, a 1 MiB cap.
- ``fetcher``: a :class:`Fetcher` built from ``settings``, closed afterwards.
- ``redis_url``: a real ``redis-server`` on a unix socket in a temp dir (module scope).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.httpserver import LocalHTTPServer
from worker.config import Settings
from worker.fetch import Fetcher

TEST_CAP_BYTES = 1024 * 1024
#: Only fails a redis-server that never answers (a busy machine may take long to start one).
DEFAULT_REDIS_START_S = 120


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as local:
        yield local


@pytest.fixture
def settings() -> Settings:
    return Settings(
        allow_private_networks=True,
        host_rate_per_s=0,
        # Generous: a busy machine must not turn a success into a timeout. A test of a
        # deadline sets its own short one.
        connect_timeout_s=60.0,
        read_timeout_s=60.0,
        total_timeout_s=120.0,
        max_response_bytes=TEST_CAP_BYTES,
        max_redirects=5,
    )


@pytest.fixture
def fetcher(settings: Settings) -> Iterator[Fetcher]:
    with Fetcher(settings) as instance:
        yield instance


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server listening only on a unix socket in a temp dir."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    workdir: Path = tmp_path_factory.mktemp("redis")
    sock = workdir / "redis.sock"
    process = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"unix://{sock}"
    try:
        _wait_for_redis(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_redis(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEFAULT_REDIS_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited with {process.returncode}")
        try:
            with redis.Redis.from_url(url) as client:
                client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    pytest.fail(f"redis-server did not start within {DEFAULT_REDIS_START_S:.0f}s")
