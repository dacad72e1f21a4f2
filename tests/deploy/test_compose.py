"""docker-compose.yml: valid for docker-compose (Debian's 1.29, no engine needed) and wired
as the deployment needs: servers healthy, migrate once, then worker and beat."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from defusedxml import ElementTree

from tests.support.services import REPO_ROOT
from worker.celery_app import QUEUES

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
APP_SERVICES = ("migrate", "worker", "beat")
MONITORING = ("metrics", "flower")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as docker-compose itself resolves it (anchors, defaults, paths)."""
    return _config({})


def _config(extra_env: dict[str, str]) -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose not found: install Debian's package (`apt-get install -y "
            "docker-compose`; `bash .ci/run` does this).",
            pytrace=False,
        )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STORYWIRE_", "COMPOSE_", "POSTGRES_", "FLOWER_"))
    }
    env.update(extra_env)
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict)
    return config


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "redis", *APP_SERVICES, *MONITORING}
    profiled = {n for n, s in compose["services"].items() if s.get("profiles")}
    assert profiled == set(MONITORING)
    for name in MONITORING:
        assert compose["services"][name]["profiles"] == ["monitoring"]


def test_flower_watches_the_broker_and_workers_send_events(compose: dict[str, Any]) -> None:
    flower = _command(compose["services"]["flower"])
    assert "--broker=redis://redis:6379/0" in flower and "flower" in flower
    assert "--events" in _command(compose["services"]["worker"])


@pytest.mark.parametrize(
    ("name", "checks"),
    [("worker", "database,migrations,broker,worker"), ("beat", "database,beat")],
)
def test_worker_and_beat_have_their_own_healthcheck(
    compose: dict[str, Any], name: str, checks: str
) -> None:
    test = compose["services"][name]["healthcheck"]["test"]
    assert test == ["CMD", "storywire", "health", "--checks", checks, "--local"]


def test_postgres_password_comes_from_the_environment() -> None:
    config = _config({"POSTGRES_PASSWORD": "not-the-default"})
    assert config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "not-the-default"
    for name in APP_SERVICES:
        url = config["services"][name]["environment"]["DATABASE_URL"]
        assert url == "postgresql://storywire:not-the-default@postgres:5432/storywire"


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_servers_have_healthcheck_and_named_volume(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["healthcheck"]["test"], f"{name} has no healthcheck"
    sources = [str(v).split(":", 1)[0] if isinstance(v, str) else v["source"]
               for v in service["volumes"]]  # fmt: skip
    assert any(s in compose["volumes"] for s in sources), f"{name}: no named volume"


def test_migrate_upgrades_then_imports_the_mounted_opml(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    script = " ".join(_command(migrate))
    upgrade = script.find("storywire db upgrade")
    feeds_import = script.find("storywire feeds import /feeds/feeds.opml")
    assert 0 <= upgrade < feeds_import, script
    assert "&&" in script[upgrade:feeds_import], "import must not run after a failed upgrade"
    assert migrate.get("restart", "no") == "no", "a one-shot service must not be restarted"

    mount = next(str(v) for v in migrate["volumes"] if ":/feeds/feeds.opml" in str(v))
    source, target, mode = mount.split(":")
    assert (target, mode) == ("/feeds/feeds.opml", "ro")
    opml = Path(source)
    assert opml.is_file(), f"{opml} is mounted but does not exist"
    # The default mount is the shipped example: well-formed OPML naming example domains only.
    urls = [o.get("xmlUrl") for o in ElementTree.parse(opml).iter("outline") if o.get("xmlUrl")]
    assert urls
    assert all(u.startswith("https://") and ".example." in u for u in urls), urls


def test_worker_consumes_every_queue(compose: dict[str, Any]) -> None:
    command = _command(compose["services"]["worker"])
    assert command[:2] == ["storywire", "worker"]
    queues = command[command.index("--queues") + 1].split(",")
    assert sorted(queues) == sorted(QUEUES) == ["articles", "feeds", "stories"]


def test_beat_command(compose: dict[str, Any]) -> None:
    assert _command(compose["services"]["beat"]) == ["storywire", "beat"]


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_wait_for_migrate_and_healthy_servers(
    compose: dict[str, Any], name: str
) -> None:
    depends_on = compose["services"][name]["depends_on"]
    assert depends_on == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_use_the_image_and_the_servers(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert Path(service["build"]["context"]) == REPO_ROOT
    assert (REPO_ROOT / service["build"].get("dockerfile", "Dockerfile")).is_file()
    env = service["environment"]
    assert env["DATABASE_URL"] == "postgresql://storywire:storywire@postgres:5432/storywire"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    postgres_env = compose["services"]["postgres"]["environment"]
    assert (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"],
            postgres_env["POSTGRES_DB"]) == ("storywire", "storywire", "storywire")  # fmt: skip
