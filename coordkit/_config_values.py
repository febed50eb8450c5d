"""Values, keys, layers and files of :mod:`coordkit.config` (no I/O to the store here).

A setting's key is a relative path (``timeout``, ``db/pool/size``); its stored value is JSON
text, read as ``coordkit config set`` reads its VALUE: JSON, or else, for text that does not
start like JSON, a plain string (``hello``). Text that starts with ``{``, ``[`` or ``"`` but is
not valid JSON (``{bad json``), or bytes that are not UTF-8, are :class:`Invalid`: never a
value. The effective value of a key comes from the highest layer that has it: environment
over store over defaults.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigurationError, InvalidNameError
from .names import validate_name

__all__ = [
    "MARKER",
    "SOURCES",
    "ConfigDiff",
    "Invalid",
    "Setting",
    "decode",
    "diff",
    "dump_text",
    "encode",
    "env_overrides",
    "is_hidden",
    "lookup",
    "normalize_key",
    "parse_text",
    "parse_value",
    "read_file",
    "unflatten",
]

MARKER = ".version"  # written with every coordkit change (see coordkit.config)
SOURCES = ("default", "store", "env")  # lowest to highest precedence
_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


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
        raise InvalidNameError(f"config key {body!r} starts with '.', which is reserved for coordkit's "
                               "own bookkeeping; choose another name")
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
            f"({exc}); use numbers, strings, booleans, null, lists and objects") from None


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


# --- layers ----------------------------------------------------------------------------
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


def env_name(prefix: str, key: str) -> str:
    """``PAYMENTS_DB__POOL_SIZE`` for prefix ``PAYMENTS_`` and key ``db/pool-size``."""
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", key.replace("/", "__")).upper()


def env_prefix_of(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    cleaned = prefix.strip().rstrip("_").upper()
    if not cleaned or not re.fullmatch(r"[A-Z0-9_]+", cleaned):
        raise ConfigurationError(f"env_prefix {prefix!r} must be letters, digits and '_' (e.g. 'PAYMENTS')")
    return cleaned + "_"


def env_overrides(prefix: str | None, environ: Mapping[str, str], known: Iterable[str]) -> dict[str, str]:
    """{config key: text} of the variables starting with ``prefix``. A variable names a known
    key when it is that key's :func:`env_name`; otherwise ``A__B_C`` names ``a/b_c``."""
    if not prefix:
        return {}
    names = {env_name(prefix, key): key for key in sorted(known, reverse=True)}
    found: dict[str, str] = {}
    for var, text in environ.items():
        if not var.startswith(prefix) or var == prefix:
            continue
        key = names.get(var) or var[len(prefix):].lower().replace("__", "/")
        try:
            found[normalize_key(key)] = text
        except InvalidNameError:
            continue  # not a name a setting could have: not meant for us
    return found


def _default_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def merge_layers(defaults: Mapping[str, Any], stored: Mapping[str, tuple[Any, str, int]],
                 env: Mapping[str, str]) -> dict[str, Setting]:
    """Effective settings: env over stored (value, text, version) over defaults."""
    settings: dict[str, Setting] = {}
    for key in sorted(set(defaults) | set(stored) | set(env)):
        layers: dict[str, Any] = {}
        if key in defaults:
            layers["default"] = defaults[key]
            chosen = Setting(key, defaults[key], "default", _default_text(defaults[key]))
        if key in stored:
            value, text, version = stored[key]
            layers["store"] = value
            chosen = Setting(key, value, "store", text, version)
        if key in env:
            layers["env"] = parse_text(env[key])
            chosen = Setting(key, layers["env"], "env", env[key], stored[key][2] if key in stored else 0)
        settings[key] = Setting(chosen.key, chosen.value, chosen.source, chosen.text, chosen.version,
                                layers)
    return settings


def flat_mapping(data: Mapping[Any, Any], what: str) -> dict[str, Any]:
    """Validate a user's flat {key: JSON value} mapping (defaults, a file, an update)."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{what} must be a mapping of keys to values, not {type(data).__name__}")
    return {normalize_key(key): _check_json(str(key), value) for key, value in data.items()}


# --- files -----------------------------------------------------------------------------
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
        (ValueError, RecursionError, _yaml().YAMLError) if fmt == "yaml" else (ValueError, RecursionError))
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
        return str(_yaml().safe_dump(dict(values), sort_keys=True, allow_unicode=True,
                                     default_flow_style=False))
    if fmt != "json":
        raise ConfigurationError(f"unknown format {fmt!r}: use json or yaml")
    return json.dumps(dict(values), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- diffs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigDiff:
    """What applying a mapping would change: keys added, changed (old, new) and removed."""

    added: Mapping[str, Any]
    changed: Mapping[str, tuple[Any, Any]]
    removed: Mapping[str, Any]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def __len__(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)

    def lines(self) -> Iterator[str]:
        """``+ key = value``, ``~ key = new (was old)``, ``- key (was old)``, sorted by key."""
        def show(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False)

        rows = [(k, f"+ {k} = {show(v)}") for k, v in self.added.items()]
        rows += [(k, f"~ {k} = {show(new)} (was {show(old)})") for k, (old, new) in self.changed.items()]
        rows += [(k, f"- {k} (was {show(v)})") for k, v in self.removed.items()]
        return (line for _, line in sorted(rows))

    def writes(self) -> dict[str, Any]:
        """The values to store: every added and changed key with its new value."""
        return {**self.added, **{k: new for k, (_, new) in self.changed.items()}}

    def to_json(self) -> dict[str, Any]:
        return {"added": dict(self.added),
                "changed": {k: {"old": old, "new": new} for k, (old, new) in self.changed.items()},
                "removed": dict(self.removed)}


def _same(a: Any, b: Any) -> bool:
    # 1 == 1.0 == True in Python, but they are different JSON values.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) if a == b else False


def diff(current: Mapping[str, Any], wanted: Mapping[str, Any], *, prune: bool) -> ConfigDiff:
    """Changes turning ``current`` into ``wanted`` (with ``prune``, also removing what
    ``wanted`` lacks)."""
    added = {k: v for k, v in wanted.items() if k not in current}
    changed = {k: (current[k], v) for k, v in wanted.items() if k in current and not _same(current[k], v)}
    removed = {k: v for k, v in current.items() if k not in wanted} if prune else {}
    return ConfigDiff(added, changed, removed)


def same_value(a: Any, b: Any) -> bool:
    """Equal as JSON values (``1``, ``1.0`` and ``true`` are three values)."""
    return _same(a, b)
