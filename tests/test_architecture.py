"""Imports go down the floors of docs/architecture.md: never sideways, never up.

The floors are read from the document's table, so the drawing and the rule cannot drift
apart. Every import counts: at the top of a module, inside a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]
_DOC = _ROOT / "docs" / "architecture.md"
_ROW_RE = re.compile(r"^\| (\d+) \| ([^|]+) \|", re.M)


def _floors() -> dict[str, int]:
    """Package -> floor, from the table of docs/architecture.md (``models`` is ``models``,
    ``worker/<name>`` is ``<name>``)."""
    floors: dict[str, int] = {}
    for floor, cell in _ROW_RE.findall(_DOC.read_text(encoding="utf-8")):
        for name in re.findall(r"`([\w.]+)`", cell):
            floors[name] = int(floor)
    return floors


def _unit(module: str) -> str | None:
    """The package of the floors table a dotted module name belongs to, ``None`` outside."""
    parts = module.split(".")
    if parts[0] == "models":
        return "models"
    if parts[0] == "worker" and len(parts) > 1:
        return parts[1]
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Every module ``source`` (the text of ``module``) imports, as absolute dotted names;
    ``from worker import metrics`` counts as ``worker.metrics``."""
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def _sources() -> list[Path]:
    """Every module of the floors (``worker/__init__.py`` stands on none: it is empty)."""
    paths = [*(_ROOT / "worker").rglob("*.py"), *(_ROOT / "models").rglob("*.py")]
    return sorted(path for path in paths if path != _ROOT / "worker" / "__init__.py")


def test_the_worker_package_itself_imports_nothing() -> None:
    # Importing any worker.<package> runs it first: an import there would sit under every floor.
    source = (_ROOT / "worker" / "__init__.py").read_text(encoding="utf-8")
    assert imported_modules(source, "worker", is_package=True) == []


def test_every_package_has_a_floor() -> None:
    floors = _floors()
    units = {unit for path in _sources() if (unit := _unit(_module_name(path)))}
    assert sorted(units - set(floors)) == [], "add them to docs/architecture.md"
    assert sorted(set(floors) - units) == [], "docs/architecture.md names packages that are gone"


def _violations(source: str, module: str, floors: dict[str, int], *, is_package: bool) -> list[str]:
    own = _unit(module)
    assert own is not None
    found = []
    for name in imported_modules(source, module, is_package=is_package):
        target = _unit(name)
        if target is not None and target != own and floors.get(target, 99) >= floors[own]:
            found.append(
                f"{module} (floor {floors[own]}) imports {name} (floor {floors.get(target, '?')})"
            )
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(_ROOT)))
def test_imports_go_down_the_floors(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    module = _module_name(path)
    assert _violations(source, module, _floors(), is_package=path.name == "__init__.py") == []


def test_imports_up_sideways_lazy_or_relative_are_found() -> None:
    # What the rule must catch, in a module of worker/feeds (floor 3): an import inside a
    # function, a relative one, one from a sibling on the same floor (extract), one from
    # above; and what it must let through: its own package and the floors below.
    source = (
        "from worker.fetch import Fetcher\n"
        "from . import parse\n"
        "def f():\n"
        "    from worker.pipeline import refresh_feed\n"
        "    from ..extract import extract_page\n"
        "    from worker import tasks\n"
        "    import worker.text.normalize\n"
    )
    found = _violations(source, "worker.feeds.probe", _floors(), is_package=False)
    assert found == [
        "worker.feeds.probe (floor 3) imports worker.pipeline.refresh_feed (floor 4)",
        "worker.feeds.probe (floor 3) imports worker.extract.extract_page (floor 3)",
        "worker.feeds.probe (floor 3) imports worker.tasks (floor 7)",
    ]
