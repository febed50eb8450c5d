"""Typed access for :mod:`coordkit.config`: schemas that build a typed view from the effective
settings, and the value conversions of the typed getters.

A schema is a dataclass, a pydantic model or a function. Dataclasses and models are validated
by pydantic (``pydantic.TypeAdapter``, pydantic's default lax mode: the one validator for
both, so a field reads ``"8"`` as 8 as :meth:`~coordkit.config.ConfigSnapshot.get_int` does);
that needs pydantic 2, ``pip install 'coordkit[schema]'``. A field may be anything pydantic
validates: numbers, strings, booleans, ``Optional``/unions, ``Literal``, enums (by value),
``timedelta`` (seconds), containers, nested dataclasses or models (read from ``field/...``
keys, or from an object stored at ``field``). A ``__post_init__`` (or a model validator) that
raises ValueError or TypeError refuses the whole view. A function schema gets the settings as
nested objects and needs nothing installed.

Every refusal is a :class:`ConfigValidationError` naming the key (``db/size``) and saying what
was wrong, the same on every backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import functools
import json
import math
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError, ConfigValidationError

__all__ = ["Schema", "coerce", "convert"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_INSTALL = "pip install 'coordkit[schema]' (pydantic>=2)"


def _join(where: str, name: object) -> str:
    return f"{where}/{name}" if where else str(name)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# --- pydantic: the one validator of dataclasses, models and get_as types -----------------
def _pydantic_base() -> Any:
    try:
        from pydantic import BaseModel
    except ImportError:  # optional: a function schema and the plain getters need no pydantic
        return None
    return BaseModel


def _is_model(spec: Any) -> bool:
    base = _pydantic_base()
    return base is not None and isinstance(spec, type) and issubclass(spec, base)


@functools.lru_cache(maxsize=256)
def _adapter(tp: Any) -> Any:
    """pydantic's validator for ``tp``, built once per type (building one costs more than
    validating with it). Raises ConfigurationError when pydantic is not installed or cannot
    validate ``tp``."""
    name = getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
    try:
        from pydantic import ConfigDict, PydanticUserError, TypeAdapter
    except ImportError:
        raise ConfigurationError(f"checking values against {name} needs pydantic: {_INSTALL}") from None
    try:
        try:  # a class pydantic has no schema for: a value that is an instance of it fits
            return TypeAdapter(tp, config=ConfigDict(arbitrary_types_allowed=True))
        except PydanticUserError:  # dataclasses, models, TypedDicts carry their own config
            return TypeAdapter(tp)
    except PydanticUserError as exc:
        why = exc.message.splitlines()[0]
        raise ConfigurationError(f"cannot check values of type {name}: {why}") from None


# The pydantic error types that mean "not of the type the field has", said as the old messages
# said them ("timeout: expected float, got "soon""): what a user needs is the field's type.
_EXPECTED = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "finite_number": "float",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "string_type": "str",
    "none_required": "null",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "dataclass_type": "an object",
}


def _data_key(loc: tuple[Any, ...], data: Any, where: str) -> str:
    """The key a pydantic error location names, as far as it goes into the data: a union
    adds its members' names to the location ("y/int"), which are no keys."""
    key = where
    for part in loc:
        in_object = isinstance(data, dict) and part in data
        if not (in_object or (isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data))):
            break
        data, key = data[part], _join(key, part)
    return key


def _problem(error: Mapping[str, Any]) -> str:
    kind, message = error.get("type", ""), str(error.get("msg", "invalid"))
    if kind == "missing":
        return "is required: nothing is stored and the schema has no default"
    if kind == "value_error":  # a __post_init__ or a validator refused: its words, as raised
        return message.removeprefix("Value error, ")
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(error.get('input'))}"
    return f"{message[:1].lower()}{message[1:]}, got {_show(error.get('input'))}"


def _refusal(errors: list[Mapping[str, Any]], data: Any, where: str) -> ConfigValidationError:
    """One error naming the first key pydantic refused and what was wrong with it; the other
    members of a union at that key are said together ("expected int or str")."""
    located = [(_data_key(tuple(e.get("loc", ())), data, where), e) for e in errors]
    if located[0][1].get("type") == "missing":
        located[0] = (_join(located[0][0], located[0][1]["loc"][-1]), located[0][1])
    key = located[0][0]
    here = [e for k, e in located if k == key]
    kinds = [e.get("type", "") for e in here]
    if len(here) > 1 and all(kind in _EXPECTED for kind in kinds):
        names = " or ".join(dict.fromkeys(_EXPECTED[kind] for kind in kinds))
        problem = f"expected {names}, got {_show(here[0].get('input'))}"
    else:
        problem = _problem(here[0])
    others = len(located) - len(here)
    return ConfigValidationError(key, problem + (f" (and {others} more)" if others else ""))


def _validate(tp: Any, value: Any, where: str) -> Any:
    adapter = _adapter(tp)
    from pydantic import ValidationError  # installed: _adapter found it

    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise _refusal(list(exc.errors()), value, where) from None
    except (ValueError, TypeError) as exc:  # a __post_init__ raising TypeError is not wrapped
        raise ConfigValidationError(where, str(exc) or type(exc).__name__) from None


def convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` (a JSON value) as type ``tp``, or ConfigValidationError naming ``where``
    (ConfigurationError when ``tp`` needs pydantic and it is not installed)."""
    if tp is Any or tp is object:
        return value
    return _validate(tp, value, where)


# --- lenient conversion (typed getters) -----------------------------------------------
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    from their usual spellings in strings ("5", "2.5", "yes") without pydantic; other types
    as :func:`convert`."""
    lenient = _LENIENT.get(tp)
    if lenient is None:
        return convert(value, tp, key)
    try:
        return lenient(value)
    except ValueError as exc:
        raise ConfigValidationError(key, f"expected {exc}, got {_show(value)}") from None


# --- schemas ---------------------------------------------------------------------------
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
    """What a typed view is built with: a dataclass or a pydantic model (validated by
    pydantic), or a function that takes the effective settings as nested objects and returns
    the view (raising ValueError or TypeError to refuse them).

    Raises ConfigurationError for anything else, and for a dataclass when pydantic is not
    installed (the message says what to install)."""

    def __init__(self, spec: Any) -> None:
        if dataclasses.is_dataclass(spec) and isinstance(spec, type):
            self.kind = "dataclass"
            _adapter(spec)  # now, not at the first read: a missing pydantic is said at once
        elif _is_model(spec):
            self.kind = "pydantic"
        elif callable(spec):
            self.kind = "function"
        else:
            raise ConfigurationError(
                f"schema must be a dataclass, a pydantic model or a function, not {spec!r}"
            )
        self.spec = spec

    @property
    def name(self) -> str:
        return str(getattr(self.spec, "__name__", self.spec))

    def build(self, nested: Mapping[str, Any]) -> Any:
        """The typed view of ``nested`` settings; ConfigValidationError naming the key."""
        if self.kind != "function":
            return _validate(self.spec, dict(nested), "")
        try:
            return self.spec(nested)
        except (ValueError, TypeError) as exc:
            raise ConfigValidationError("", str(exc) or type(exc).__name__) from None

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
    with contextlib.suppress(TypeError, ValueError):  # a default with no JSON form stays the schema's
        found[key] = _to_json(value)


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
    for name, info in model.model_fields.items():
        key, tp = _join(where, info.alias or name), info.annotation
        if _is_model(tp):
            _pydantic_defaults(tp, key, found)
        elif not info.is_required():
            default = info.get_default(call_default_factory=True)
            _record(found, key, default.model_dump(mode="json") if _is_model(type(default)) else default)


def _schema_keys(spec: Any, where: str, found: set[str]) -> None:
    if dataclasses.is_dataclass(spec) and isinstance(spec, type):
        hints = typing.get_type_hints(spec)
        members = [(f.name, hints.get(f.name)) for f in dataclasses.fields(spec)]
    elif _is_model(spec):
        model: Any = spec
        members = [(info.alias or name, info.annotation) for name, info in model.model_fields.items()]
    else:
        return
    for name, tp in members:
        before = len(found)
        _schema_keys(tp, _join(where, name), found)
        if len(found) == before:
            found.add(_join(where, name))
