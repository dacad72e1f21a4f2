"""Dockerfile: what can be checked without a Docker engine (none runs on CI)."""

from __future__ import annotations

import fnmatch
import re

from tests.support.services import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _ignored(path: str) -> bool:
    patterns = [
        p.strip()
        for p in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_base_image_and_install() -> None:
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs)
    assert any(op == "USER" and arg != "root" for op, arg in steps), "runs as root"


def test_copied_sources_exist_and_are_not_dockerignored() -> None:
    sources = [
        source
        for op, arg in _instructions()
        if op == "COPY"
        for source in arg.split()[:-1]
        if not source.startswith("--")
    ]
    # `storywire db upgrade` in the image needs the migrations, the install needs these.
    assert {"pyproject.toml", "README.md", "worker", "models", "alembic"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: missing from the checkout"
        assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_dependencies_come_from_the_lock_file() -> None:
    steps = _instructions()
    runs = [arg for op, arg in steps if op == "RUN"]
    assert any("pip install --no-deps -r requirements.lock" in r for r in runs)
    project_install = next(r for r in runs if re.search(r"pip install (--no-deps )?\.(\s|$)", r))
    assert "--no-deps" in project_install and "pip check" in project_install
    copies = [arg.split()[0] for op, arg in steps if op == "COPY"]
    assert copies[0] == "requirements.lock"  # first: a source change keeps the layer


def test_lock_file_pins_the_runtime_dependencies_only() -> None:
    import tomllib

    from packaging.requirements import Requirement

    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.lower().replace("_", "-")] = version
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements.lock: regenerate it"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {spec}"
    # Benchmark-only and development packages stay out of the image (scipy is a runtime
    # dependency since the refinement: worker/stories/partition.py).
    for name in ("scikit-learn", "pytest", "mypy", "ruff"):
        assert name not in pins, name


def test_healthcheck_runs_storywire_health() -> None:
    checks = [arg for op, arg in _instructions() if op == "HEALTHCHECK"]
    assert len(checks) == 1
    assert checks[0].endswith('CMD ["storywire", "health", "--local"]')
