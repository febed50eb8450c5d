"""Typed access for :mod:`coordkit.config`: schemas (a dataclass, a pydantic model, or a
function) that build a typed view from the effective settings, and value conversions.

A dataclass schema is checked field by field against its type hints: ``int``, ``float``
(ints accepted), ``str``, ``bool``, ``None``, ``Optional``/unions, ``Literal``, enums (by
value), ``timedelta`` (seconds), ``list``/``tuple``/``set``/``dict`` of those, and nested
dataclasses (read from ``field/...`` keys, or from an object stored at ``field``). A
``__post_init__`` that raises ValueError or TypeError refuses the whole view. A pydantic
model (only when pydantic is installed) is validated with ``model_validate``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

from ..errors import ConfigurationError

__all__ = ["ConfigValidationError", "Schema", "coerce", "convert"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class ConfigValidationError(ConfigurationError):
    """A setting does not fit the schema. ``key`` names it (``""`` when the problem is the
    whole configuration, e.g. a ``__post_init__`` check) and ``problem`` says what is wrong."""

    def __init__(self, key: str, problem: str, *, app: str = "") -> None:
        where = f"config {app!r}: " if app else ""
        super().__init__(f"{where}{key + ': ' if key else ''}{problem}")
        self.key = key
        self.problem = problem
        self.app = app

    def for_app(self, app: str) -> ConfigValidationError:
        return ConfigValidationError(self.key, self.problem, app=app)


def _join(where: str, name: object) -> str:
    return f"{where}/{name}" if where else str(name)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


# --- strict conversion by type hint (schemas, get_as) -----------------------------------
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar(value: Any, tp: type, where: str) -> Any:
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is float and _number(value):
        return float(value)
    if tp is str and isinstance(value, str):
        return value
    if tp is datetime.timedelta and _number(value):
        return datetime.timedelta(seconds=value)
    raise ConfigValidationError(where, f"expected {tp.__name__}, got {json.dumps(value)}")


def _union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    for option in options:
        try:
            return convert(value, option, where)
        except ConfigValidationError:
            continue
    names = " or ".join(_type_name(o) for o in options)
    raise ConfigValidationError(where, f"expected {names}, got {json.dumps(value)}")


def _container(value: Any, origin: Any, args: tuple[Any, ...], where: str) -> Any:
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise ConfigValidationError(where, f"expected an object, got {json.dumps(value)}")
        item = args[1] if len(args) == 2 else Any
        return {k: convert(v, item, _join(where, k)) for k, v in value.items()}
    if not isinstance(value, list):
        raise ConfigValidationError(where, f"expected a list, got {json.dumps(value)}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise ConfigValidationError(where, f"expected {len(args)} items, got {len(value)}")
        return tuple(convert(v, t, _join(where, i)) for i, (v, t) in enumerate(zip(value, args)))
    item = args[0] if args else Any
    items = [convert(v, item, _join(where, i)) for i, v in enumerate(value)]
    return items if origin is list else origin(items)


def convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` (a JSON value) as type ``tp``, or ConfigValidationError naming ``where``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if tp is None or tp is type(None):
        if value is None:
            return None
        raise ConfigValidationError(where, f"expected null, got {json.dumps(value)}")
    if origin is Union or origin is types.UnionType:
        return _union(value, args, where)
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ConfigValidationError(where, f"expected one of {list(args)}, got {json.dumps(value)}")
    if origin in (list, tuple, set, frozenset, dict, Mapping):
        return _container(value, origin, args, where)
    if tp in (list, tuple, set, frozenset, dict):
        return _container(value, tp, (), where)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigValidationError(where, f"expected an object for {tp.__name__}, got {json.dumps(value)}")
        return _build_dataclass(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = [m.value for m in tp]
            raise ConfigValidationError(where, f"expected one of {allowed}, got {json.dumps(value)}") from None
    if tp in (bool, int, float, str, datetime.timedelta):
        return _scalar(value, tp, where)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigValidationError(where, f"cannot check values of type {_type_name(tp)}")


def _build_dataclass(cls: type, values: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = _join(where, f.name)
        if f.name in values:
            kwargs[f.name] = convert(values[f.name], hints.get(f.name, Any), key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigValidationError(key, "is required: nothing is stored and the schema has no default")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ checks across fields
        raise ConfigValidationError(where, str(exc) or type(exc).__name__) from None


# --- lenient conversion (typed getters) -----------------------------------------------
def _as_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise ValueError("an integer")


def _as_float(value: Any) -> float:
    if _number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    raise ValueError("a number")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("a boolean (true/false, yes/no, on/off, 1/0)")


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("a string")


_LENIENT: dict[Any, Callable[[Any], Any]] = {int: _as_int, float: _as_float, bool: _as_bool, str: _as_str}


def coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` as ``tp`` for the typed getters: ints, floats and booleans are also read
    from their usual spellings in strings ("5", "2.5", "yes"); other types as :func:`convert`."""
    lenient = _LENIENT.get(tp)
    if lenient is None:
        return convert(value, tp, key)
    try:
        return lenient(value)
    except ValueError as exc:
        raise ConfigValidationError(key, f"expected {exc}, got {json.dumps(value)}") from None


# --- schemas ---------------------------------------------------------------------------
def _pydantic_base() -> Any:
    try:
        from pydantic import BaseModel
    except ImportError:  # optional: only a pydantic user passes a model
        return None
    return BaseModel


def _to_json(value: Any) -> Any:
    """A schema default as a JSON value (enums by value, timedeltas in seconds), or raise
    TypeError for a default that has no JSON form."""
    if isinstance(value, enum.Enum):
        return _to_json(value.value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    json.dumps(value, allow_nan=False)
    return value


class Schema:
    """What a typed view is built with: a dataclass, a pydantic model, or a function that
    takes the effective settings as nested objects and returns the view (raising ValueError
    or TypeError to refuse them)."""

    def __init__(self, spec: Any) -> None:
        base = _pydantic_base()
        if dataclasses.is_dataclass(spec) and isinstance(spec, type):
            self.kind = "dataclass"
        elif base is not None and isinstance(spec, type) and issubclass(spec, base):
            self.kind = "pydantic"
        elif callable(spec):
            self.kind = "function"
        else:
            raise ConfigurationError(f"schema must be a dataclass, a pydantic model or a function, not {spec!r}")
        self.spec = spec

    @property
    def name(self) -> str:
        return str(getattr(self.spec, "__name__", self.spec))

    def build(self, nested: Mapping[str, Any]) -> Any:
        """The typed view of ``nested`` settings; ConfigValidationError naming the key."""
        if self.kind == "dataclass":
            return _build_dataclass(self.spec, nested, "")
        if self.kind == "pydantic":
            return self._build_pydantic(nested)
        try:
            return self.spec(nested)
        except (ValueError, TypeError) as exc:
            raise ConfigValidationError("", str(exc) or type(exc).__name__) from None

    def _build_pydantic(self, nested: Mapping[str, Any]) -> Any:
        from pydantic import ValidationError

        try:
            return self.spec.model_validate(dict(nested))
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            key = "/".join(str(part) for part in first.get("loc", ()))
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ConfigValidationError(key, f"{first.get('msg', 'invalid')}{more}") from None

    def defaults(self) -> dict[str, Any]:
        """The schema's defaults as flat {key: JSON value} (nested types under ``field/``)."""
        found: dict[str, Any] = {}
        if self.kind == "dataclass":
            _dataclass_defaults(self.spec, "", found)
        elif self.kind == "pydantic":
            _pydantic_defaults(self.spec, "", found)
        return found

    def keys(self) -> set[str]:
        """Every leaf key the schema names (to map environment variables to keys)."""
        found: set[str] = set()
        _schema_keys(self.spec, "", found)
        return found


def _record(found: dict[str, Any], key: str, value: Any) -> None:
    try:
        found[key] = _to_json(value)
    except (TypeError, ValueError):
        pass  # a default with no JSON form stays the schema's own business


def _dataclass_defaults(cls: type, where: str, found: dict[str, Any]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = _join(where, f.name), hints.get(f.name)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            _dataclass_defaults(tp, key, found)
        elif f.default is not dataclasses.MISSING:
            _record(found, key, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            _record(found, key, f.default_factory())


def _pydantic_defaults(model: Any, where: str, found: dict[str, Any]) -> None:
    base = _pydantic_base()
    for name, info in model.model_fields.items():
        key, tp = _join(where, info.alias or name), info.annotation
        if base is not None and isinstance(tp, type) and issubclass(tp, base):
            _pydantic_defaults(tp, key, found)
        elif not info.is_required():
            default = info.get_default(call_default_factory=True)
            _record(found, key, default.model_dump(mode="json") if base and isinstance(default, base) else default)


def _schema_keys(spec: Any, where: str, found: set[str]) -> None:
    base = _pydantic_base()
    if dataclasses.is_dataclass(spec) and isinstance(spec, type):
        hints = typing.get_type_hints(spec)
        members = [(f.name, hints.get(f.name)) for f in dataclasses.fields(spec)]
    elif base is not None and isinstance(spec, type) and issubclass(spec, base):
        model: Any = spec
        members = [(info.alias or name, info.annotation) for name, info in model.model_fields.items()]
    else:
        return
    for name, tp in members:
        before = len(found)
        _schema_keys(tp, _join(where, name), found)
        if len(found) == before:
            found.add(_join(where, name))
