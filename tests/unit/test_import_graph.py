"""The import arrows inside coordkit/ point one way: cli -> client -> features -> core -> backends.

Read with the standard ``ast`` module, counting EVERY import: at module level, inside functions
and under ``TYPE_CHECKING``. ``import a.b`` and ``from a.b import name`` import ``a.b`` (and
``a.b.name`` too when that is a module); ``from . import x`` imports the package and ``x`` if it
is a submodule. The ``__init__`` of a package that Python runs before one of its submodules is
not an arrow of its own: else every module would depend on ``coordkit/__init__.py``, the public
surface, which imports everything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "coordkit"
KINDS = {"etcd", "zookeeper", "memory"}

# The core may import these (and the standard library, tenacity): nothing that knows a feature.
CORE_MAY_IMPORT = ("coordkit.core", "coordkit.backends", "coordkit.names", "coordkit.errors")
# Where a backend kind may be compared with: below the contract, the scheme registry, the harness.
KIND_CHECKS_ALLOWED = ("coordkit.backends", "coordkit.core.schemes", "coordkit.testing", "coordkit.dev")
# The features stand on the core (Store); only coordkit.client (and the package's public
# surface) imports them, never the other way round.
FEATURES = ("coordkit.recipes", "coordkit.discovery", "coordkit.balancing", "coordkit.config")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _known(name: str) -> str | None:
    """``name`` or the nearest enclosing module of ours (``coordkit.x.Thing`` -> ``coordkit.x``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base = module if _is_package(module) else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    yield source
    for alias in node.names:
        if f"{source}.{alias.name}" in MODULES:
            yield f"{source}.{alias.name}"


def _imports_of(module: str, source: str) -> set[str]:
    """The modules of ours that ``source`` (the text of ``module``) imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(t for name in _imported(module, node) if (t := _known(name)) and t != module)
    return found


def _arrows() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    return {module: _imports_of(module, path.read_text()) for module, path in MODULES.items()}


GRAPH = _arrows()


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p if p.endswith("_") else p + ".") for p in prefixes)


def _cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Each strongly connected group of modules (Tarjan), with one circle through it as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(group, _circle(graph, set(group), group[0])) for group in groups]


def _circle(graph: dict[str, set[str]], group: set[str], start: str) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in no circle of {sorted(group)}")


def _report(cycles: list[tuple[list[str], list[str]]]) -> str:
    lines = ["import circles:"]
    for group, circle in cycles:
        lines.append(f"  {' -> '.join(circle)}")
        lines.append(f"    (one of the circles among {len(group)} modules: {', '.join(group)})")
        inside = sorted(f"{m} -> {t}" for m in group for t in GRAPH[m] & set(group))
        lines.extend(f"      {arrow}" for arrow in inside)
    return "\n".join(lines)


def test_no_feature_imports_the_client() -> None:
    upward = sorted(
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if _within(m, FEATURES)
        for t in ts
        if t in ("coordkit.client", "coordkit")
    )
    assert not upward, "features import the client (take a coordkit.core.store.Store instead):\n" + "\n".join(
        upward
    )


def test_no_import_circle_anywhere() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, _report(cycles)


def test_the_core_imports_only_backends_names_errors_and_itself() -> None:
    upward = sorted(
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if _within(m, ("coordkit.core",))
        for t in ts
        if not _within(t, CORE_MAY_IMPORT)
    )
    assert not upward, "the core imports upward:\n  " + "\n  ".join(upward)


def test_only_dev_and_testing_import_the_test_harness() -> None:
    harness = ("coordkit.testing",)
    arrows = sorted(
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if not _within(m, (*harness, "coordkit.dev"))
        for t in ts
        if _within(t, harness)
    )
    assert not arrows, "production code imports the test harness:\n  " + "\n  ".join(arrows)


def _kind_comparisons(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Compare):
            continue
        for side in (node.left, *node.comparators):
            values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            named = {v.value for v in values if isinstance(v, ast.Constant) and v.value in KINDS}
            if named:
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
                break


def test_no_backend_kind_compared_above_the_backends() -> None:
    # The CLI too, but for `coordkit dev`, which starts a server of a named kind.
    cli = [path for path in sorted((ROOT / "cli").rglob("*.py")) if path.name != "dev.py"]
    checked = [path for module, path in MODULES.items() if not _within(module, KIND_CHECKS_ALLOWED)] + cli
    found = [line for path in checked for line in _kind_comparisons(path)]
    assert not found, (
        "backend kinds compared outside backends/ and the scheme registry "
        "(ask backend.capabilities instead):\n  " + "\n  ".join(found)
    )


def test_the_reader_sees_every_kind_of_import() -> None:
    source = """
from typing import TYPE_CHECKING
from . import session
from ..errors import ConfigurationError
if TYPE_CHECKING:
    from ..client import Client
def late():
    import coordkit.backends.memory
    from coordkit.recipes.lock import Lock
"""
    assert _imports_of("coordkit.core.store", source) == {
        "coordkit.core",
        "coordkit.core.session",
        "coordkit.errors",
        "coordkit.client",
        "coordkit.backends.memory",
        "coordkit.recipes.lock",
    }
    assert _imports_of("coordkit", "from .core.store import Store") == {"coordkit.core.store"}
