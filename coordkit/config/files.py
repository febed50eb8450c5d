"""Settings documents of :mod:`coordkit.config`: flat JSON or YAML files, as ``defaults=``,
``coordkit config import`` and ``export`` read and write them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .values import flat_mapping

__all__ = ["dump_text", "file_format", "parse_document", "read_file"]

_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def file_format(path: str | os.PathLike[str], given: str | None = None) -> str:
    """``"json"`` or ``"yaml"``: ``given``, else by the file's suffix (JSON if unknown)."""
    fmt = (given or _FORMATS.get(Path(path).suffix.lower(), "json")).lower()
    if fmt not in ("json", "yaml"):
        raise ConfigurationError(f"unknown format {fmt!r}: use json or yaml")
    return fmt


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigurationError("YAML needs PyYAML: pip install pyyaml (or use JSON)") from None
    return yaml


def parse_document(text: str, fmt: str, what: str) -> dict[str, Any]:
    """A flat settings mapping from JSON or YAML text (an empty document is no settings)."""
    broken: tuple[type[Exception], ...] = (
        (ValueError, RecursionError, _yaml().YAMLError) if fmt == "yaml" else (ValueError, RecursionError)
    )
    try:
        data = _yaml().safe_load(text) if fmt == "yaml" else (json.loads(text) if text.strip() else {})
    except broken as exc:  # say where it broke
        raise ConfigurationError(f"{what} is not valid {fmt.upper()}: {' '.join(str(exc).split())}") from None
    return flat_mapping({} if data is None else data, what)


def read_file(path: str | os.PathLike[str], fmt: str | None = None) -> dict[str, Any]:
    """The flat settings mapping in a JSON or YAML file (format from the suffix)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{os.fspath(path)} is not UTF-8 text") from None
    return parse_document(text, file_format(path, fmt), os.fspath(path))


def dump_text(values: Mapping[str, Any], fmt: str = "json") -> str:
    """``values`` as a JSON or YAML document, keys sorted; :func:`read_file` reads it back."""
    if fmt == "yaml":
        return str(
            _yaml().safe_dump(dict(values), sort_keys=True, allow_unicode=True, default_flow_style=False)
        )
    if fmt != "json":
        raise ConfigurationError(f"unknown format {fmt!r}: use json or yaml")
    return json.dumps(dict(values), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
