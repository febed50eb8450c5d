"""Keys and values of :mod:`coordkit.config` (no I/O to the store here).

A setting's key is a relative path (``timeout``, ``db/pool/size``); its stored value is JSON
text, read as ``coordkit config set`` reads its VALUE: JSON, or else, for text that does not
start like JSON, a plain string (``hello``). Text that starts with ``{``, ``[`` or ``"`` but is
not valid JSON (``{bad json``), or bytes that are not UTF-8, are :class:`Invalid`: never a
value. A :class:`Setting` is one effective value and the layers it came from (see
:mod:`.layers`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, InvalidNameError
from ..names import validate_name

__all__ = [
    "MARKER",
    "Invalid",
    "Setting",
    "decode",
    "encode",
    "flat_mapping",
    "is_hidden",
    "lookup",
    "normalize_key",
    "parse_text",
    "parse_value",
    "same_value",
    "unflatten",
]

MARKER = ".version"  # written with every coordkit change (see coordkit.config)


# --- keys ------------------------------------------------------------------------------
def is_hidden(key: str) -> bool:
    """Keys whose first segment starts with "." are reserved (the change marker)."""
    return key.startswith(".")


def normalize_key(key: object) -> str:
    """``key`` as a config key (``db/pool/size``; one leading "/" is dropped), or raise
    InvalidNameError saying what is wrong with it."""
    if isinstance(key, str) and key.startswith("/"):
        key = key[1:]
    if isinstance(key, str) and key.startswith("/"):
        raise InvalidNameError(f"config key {key!r} starts with '//'; write keys like 'db/pool/size'")
    body = validate_name(key, "config key")
    if is_hidden(body):
        raise InvalidNameError(
            f"config key {body!r} starts with '.', which is reserved for coordkit's "
            "own bookkeeping; choose another name"
        )
    return body


# --- values ----------------------------------------------------------------------------
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_text(text: str) -> Any:
    """The JSON value of ``text``, or ``text`` itself when it is not JSON (``hello``)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python can hold
        return text


# Text that starts like an object, a list or a string was meant as JSON: a typo in it must not
# become a string (the rule `coordkit config set` applies to its VALUE).
_JSON_OPENERS = ("{", "[", '"')


@dataclass(frozen=True)
class Invalid:
    """A stored value that is not a JSON value, at the key's stored ``version``. ``problem``
    says what is wrong without quoting the value (it may be a secret)."""

    problem: str
    version: int = 0


def decode(raw: bytes) -> tuple[Any, str] | Invalid | None:
    """(value, text) of a stored value; :class:`Invalid` when it is not UTF-8, or starts like
    JSON (``{``, ``[``, ``"``) without being JSON; None for empty bytes, which are not a
    setting (ZooKeeper's parent nodes are empty)."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Invalid(f"the stored value is not UTF-8 text (byte {exc.start})")
    try:
        return parse_value(text), text
    except ValueError as exc:
        return Invalid(f"the stored value is {exc}")


def parse_value(text: str) -> Any:
    """A setting's value from its text, the one rule for stored values and for the VALUE of
    ``coordkit config set``: text that starts like JSON (``{``, ``[``, ``"``) must be JSON;
    other text is read by :func:`parse_text` (a number, true, null... or a string). Raises
    ValueError saying "not valid JSON (why: where)", never quoting the text (it may be a
    secret)."""
    if not text.lstrip().startswith(_JSON_OPENERS):
        return parse_text(text)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:  # its message says where, never what
        raise ValueError(f"not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # NaN inside; nested deeper than Python holds
        why = exc if isinstance(exc, ValueError) else "nested too deep"
        raise ValueError(f"not valid JSON ({why})") from None


def encode(key: str, value: Any) -> bytes:
    """The JSON text stored for ``value``; ConfigurationError if it is not JSON."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ConfigurationError(
            f"config key {key!r}: {type(value).__name__} value {value!r} cannot be stored as JSON "
            f"({exc}); use numbers, strings, booleans, null, lists and objects"
        ) from None


def _check_json(key: str, value: Any) -> Any:
    encode(key, value)
    return copy.deepcopy(value)


def lookup(values: Mapping[str, Any], key: str) -> tuple[bool, Any, str]:
    """Find ``key`` in flat ``values``, descending into objects: ``db/pool/size`` is also
    found as ``{"pool": {"size": ...}}`` stored at ``db``. Returns (found, value, key it
    was found under)."""
    if key in values:
        return True, values[key], key
    parts = key.split("/")
    for cut in range(len(parts) - 1, 0, -1):
        holder = "/".join(parts[:cut])
        if holder not in values:
            continue
        value = values[holder]
        for part in parts[cut:]:
            if not isinstance(value, dict) or part not in value:
                return False, None, ""
            value = value[part]
        return True, value, holder
    return False, None, ""


def unflatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested objects from flat keys, for typed views: ``{"db/pool/size": 5}`` becomes
    ``{"db": {"pool": {"size": 5}}}``. Deeper keys are merged into an object stored at a
    shorter key, and win over a non-object stored there."""
    nested: dict[str, Any] = {}
    for key in sorted(values, key=lambda k: k.count("/")):
        *parents, leaf = key.split("/")
        node = nested
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        value = copy.deepcopy(values[key])
        if isinstance(node.get(leaf), dict) and isinstance(value, dict):
            node[leaf] = {**value, **node[leaf]}
        elif not isinstance(node.get(leaf), dict):
            node[leaf] = value
    return nested


@dataclass(frozen=True)
class Setting:
    """One effective setting and where it came from.

    ``source`` is ``"default"``, ``"store"`` or ``"env"``; ``layers`` holds the value of
    every layer that has the key (a lower one is shadowed by a higher one); ``text`` is the
    value as written (the stored text, the environment variable's text); ``version`` is the
    stored key's version (0 when the key is not stored), the one that compare-and-set takes.
    """

    key: str
    value: Any
    source: str
    text: str
    version: int = 0
    layers: Mapping[str, Any] = field(default_factory=dict)


def flat_mapping(data: Mapping[Any, Any], what: str) -> dict[str, Any]:
    """Validate a user's flat {key: JSON value} mapping (defaults, a file, an update)."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{what} must be a mapping of keys to values, not {type(data).__name__}")
    return {normalize_key(key): _check_json(str(key), value) for key, value in data.items()}


def same_value(a: Any, b: Any) -> bool:
    """Equal as JSON values (``1``, ``1.0`` and ``true`` are three values, although they are
    equal in Python)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) if a == b else False
