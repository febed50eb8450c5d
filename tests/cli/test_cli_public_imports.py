"""The CLI is a client of coordkit's public surface (issue 12): it imports no private module of
coordkit (``_x`` anywhere in the dotted path, or a module inside ``coordkit.discovery``,
``coordkit.recipes`` or ``coordkit.backends``, whose packages export what is public), takes
from a coordkit module only names its ``__all__`` lists, and takes no ``_private`` name from
another module of the CLI. Every import counts, also inside functions."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "cli"
# Packages whose __init__ is their public surface: their modules are private to them.
_PACKAGES_WITH_A_SURFACE = ("coordkit.discovery", "coordkit.recipes", "coordkit.backends")
# Owned by other parts of issue 12, which move them onto the public surface; drop them from
# here as they do.
_NOT_YET = {"config.py", "dev.py"}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, names taken from it, line) for every import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = f"cli.{node.module or ''}".rstrip(".") if node.level else node.module or ""
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def _problems(module: str, names: list[str]) -> list[str]:
    if module.startswith("cli."):
        return [f"{module}.{name} is private to its module" for name in names if name.startswith("_")]
    if module != "coordkit" and not module.startswith("coordkit."):
        return []
    if any(part.startswith("_") for part in module.split(".")):
        return [f"{module} is a private module"]
    if any(module.startswith(f"{package}.") for package in _PACKAGES_WITH_A_SURFACE):
        return [f"{module} is private: import from its package"]
    public = getattr(importlib.import_module(module), "__all__", None)
    if public is None:
        return []  # importing the module itself, for its attributes (coordkit.connect)
    return [f"{module}.{name} is not in its __all__" for name in names if name not in public]


@pytest.mark.parametrize(
    "path", sorted(p for p in CLI.glob("*.py") if p.name not in _NOT_YET), ids=lambda p: p.name
)
def test_the_cli_imports_only_coordkits_public_surface(path: Path) -> None:
    problems = [
        f"{path.name}:{line}: {problem}"
        for module, names, line in _imports(path)
        for problem in _problems(module, names)
    ]
    assert problems == []


def test_the_check_sees_a_private_import() -> None:
    assert _problems("coordkit.discovery.formats", ["split_endpoint"])
    assert _problems("coordkit._security", ["TLS"])
    assert _problems("coordkit", ["Contender"])
    assert _problems("cli.watch", ["_stop_requested"])
    assert not _problems("coordkit.discovery", ["split_endpoint"])
