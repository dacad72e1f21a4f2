"""worker.text is the floor under feeds and extract: imports only go down, never across."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import worker

_ROOT = Path(worker.__file__).parent

# package -> packages it must never import (directly, at any point in a module)
_FORBIDDEN = {
    "text": ("worker.feeds", "worker.extract", "worker.pipeline", "worker.stories"),
    "extract": ("worker.feeds", "worker.pipeline", "worker.stories"),
    "feeds": ("worker.extract", "worker.pipeline", "worker.stories"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(_FORBIDDEN))
def test_package_does_not_import_upwards_or_sideways(package: str) -> None:
    modules = sorted((_ROOT / package).glob("*.py"))
    assert modules, f"worker/{package} has no modules"
    offending = [
        f"{path.relative_to(_ROOT.parent)} imports {name}"
        for path in modules
        for name in sorted(_imports(path))
        if any(name == bad or name.startswith(bad + ".") for bad in _FORBIDDEN[package])
    ]
    assert offending == []
