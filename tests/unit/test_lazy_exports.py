"""The public packages import a feature when one of its names is first used
(coordkit.core.exports): what type checkers read under TYPE_CHECKING and what runs agree, and
a process that only reads keys loads no feature."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAZY_PACKAGES = ["coordkit", "coordkit.balancing", "coordkit.config", "coordkit.discovery"]
FEATURE_MODULES = [
    "coordkit.recipes.lock",
    "coordkit.recipes.election",
    "coordkit.discovery.cache",
    "coordkit.discovery.registry",
    "coordkit.balancing.balancer",
    "coordkit.config.live",
]


def _type_checking_imports(package: str) -> dict[str, str]:
    """name -> relative module, from the ``if TYPE_CHECKING:`` block of the package's __init__."""
    path = ROOT / Path(*package.split(".")) / "__init__.py"
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                for alias in statement.names:
                    found[alias.asname or alias.name] = "." * statement.level + (statement.module or "")
    return found


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_names_are_what_type_checkers_see(package: str) -> None:
    module = importlib.import_module(package)
    declared = _type_checking_imports(package)
    assert declared == module._EXPORTS
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = module.NoSuchName


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted(m for m in {FEATURE_MODULES!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return list(ast.literal_eval(out.stdout.strip()))


def test_reading_keys_loads_no_feature() -> None:
    code = (
        "import coordkit\n"
        "with coordkit.connect('memory://lazy') as c:\n"
        "    c.put('/k', 'v'); assert c.get('/k').value == b'v'\n"
    )
    assert _loaded_after(code) == []


def test_a_feature_is_loaded_when_first_used() -> None:
    code = "import coordkit\nwith coordkit.connect('memory://lazy') as c:\n    c.lock('x')\n"
    assert _loaded_after(code) == ["coordkit.recipes.lock"]
    assert "coordkit.balancing.balancer" in _loaded_after("from coordkit import Balancer")
