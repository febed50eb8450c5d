"""The shape of the config package: no import circle inside it, counting every import (also
inside functions and under TYPE_CHECKING), modules under 400 lines, and no module left at the
old private paths (``coordkit/_config_*.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "coordkit" / "config"


def _imports_within(path: Path) -> set[str]:
    """The sibling modules ``path`` imports (``from .x import y`` names ``x``; ``from . import x``
    names ``x``, and the package itself, ``__init__``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found.update({"__init__", *(alias.name for alias in node.names)})
    return found - {path.stem}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``graph`` (module -> modules it imports), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            if (circle := visit(imported, [*path, module])) is not None:
                return circle
        done.add(module)
        return None

    return next((c for m in sorted(graph) if (c := visit(m, [])) is not None), None)


def test_no_import_circle_inside_the_config_package() -> None:
    graph = {path.stem: _imports_within(path) for path in PACKAGE.glob("*.py")}
    assert "live" in graph and "snapshot" in graph["live"], "the check no longer sees the package"
    assert _circle(graph) is None, " -> ".join(_circle(graph) or [])


def test_config_modules_are_short_and_none_is_left_at_the_old_paths() -> None:
    long = {
        p.name: n
        for p in PACKAGE.glob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) >= 400
    }
    assert long == {}
    assert sorted(p.name for p in PACKAGE.parent.glob("_config_*.py")) == []
