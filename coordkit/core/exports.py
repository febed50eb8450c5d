"""A package's public names, imported when first used (PEP 562).

``coordkit`` and its feature packages list what they export; a module is imported the first
time one of its names is read (``coordkit.Lock``, ``from coordkit import Lock``), then the name
is a plain attribute of the package. So ``import coordkit`` followed by ``connect(url).get(key)``
(the CLI's ``get``) loads the core and one backend, not every feature. Type checkers and
readers see the real imports, which each package also makes under ``TYPE_CHECKING``; a unit
test checks that the two lists agree.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, where ``exports`` maps each public name
    to the module (relative to ``package``, e.g. ``".recipes.lock"``) that defines it. A name not
    in ``exports`` raises AttributeError, as for any module; an import error of the module that
    defines a name propagates as it would from an eager import."""

    def get_attribute(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later reads do not come here
        return value

    def list_names() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return get_attribute, list_names
