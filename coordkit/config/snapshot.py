"""Immutable views of a live configuration: :class:`ConfigSnapshot` and :class:`ConfigChanges`,
and the typed getters (``get_int``...) that a snapshot and a :class:`~coordkit.config.Config` share."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, TypeVar, overload

from ..errors import ConfigurationError, ConfigValidationError, NotFoundError
from .schema import coerce
from .values import Invalid, Setting, lookup, same_value

__all__ = [
    "Change",
    "ConfigChanges",
    "ConfigSnapshot",
    "Stored",
    "TypedGetters",
    "changes_between",
    "newly_invalid",
]

Stored = tuple[Any, str, int]  # a stored key's value, text and version

D = TypeVar("D")
T = TypeVar("T")
_MISSING: Any = object()


class TypedGetters:
    """``get_as`` and ``get_int``/``get_float``/``get_bool``/``get_str`` over one state."""

    __slots__ = ()

    def _state(self) -> ConfigSnapshot:
        raise NotImplementedError

    def get_as(self, key: str, type_: type[T] | Any, default: Any = _MISSING) -> Any:
        """The value of ``key`` as ``type_`` (anything a schema field may be: ``int``,
        ``list[str]``, a dataclass...). Returns ``default`` when the key is absent (raises
        NotFoundError without one); raises ConfigValidationError when the value does not fit."""
        state = self._state()
        if key not in state:
            if default is _MISSING:
                raise NotFoundError(f"config {state.app!r} has no setting {key!r}")
            return default
        try:
            return coerce(state[key], type_, key.lstrip("/"))
        except ConfigValidationError as exc:
            raise exc.for_app(state.app) from None

    @overload
    def get_int(self, key: str) -> int: ...
    @overload
    def get_int(self, key: str, default: D) -> int | D: ...
    def get_int(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as an int (also from "5" and 5.0); see :meth:`get_as`."""
        return self.get_as(key, int, default)

    @overload
    def get_float(self, key: str) -> float: ...
    @overload
    def get_float(self, key: str, default: D) -> float | D: ...
    def get_float(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as a float (ints and numeric strings too); see :meth:`get_as`."""
        return self.get_as(key, float, default)

    @overload
    def get_bool(self, key: str) -> bool: ...
    @overload
    def get_bool(self, key: str, default: D) -> bool | D: ...
    def get_bool(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as a bool (also true/false, yes/no, on/off, 1/0); see :meth:`get_as`."""
        return self.get_as(key, bool, default)

    @overload
    def get_str(self, key: str) -> str: ...
    @overload
    def get_str(self, key: str, default: D) -> str | D: ...
    def get_str(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as a string; a number or other JSON value is given as the text it was
        written as (``1.10`` stays ``"1.10"``)."""
        state = self._state()
        if key in state and not isinstance(state[key], str):
            try:
                return state.text(key)
            except NotFoundError:  # found inside an object stored at a shorter key
                return json.dumps(state[key], ensure_ascii=False)
        return self.get_as(key, str, default)


class ConfigSnapshot(TypedGetters, Mapping[str, Any]):
    """One consistent state of a configuration: every effective setting as it was at
    :attr:`version`, never part of one change and part of another.

    Immutable: values that are lists or objects are handed out as copies. Keys are relative
    paths (``db/pool/size``); a key is also found inside an object stored at a shorter key
    (``db`` holding ``{"pool": {"size": 5}}``), though only stored keys are iterated.

    A stored value that is not JSON is never a value: its key keeps the last valid stored
    value this config saw (else the default, else it is absent) and is listed in
    :attr:`invalid`.
    """

    __slots__ = ("_app", "_invalid", "_marker_version", "_parents", "_settings", "_values", "_version")

    def __init__(
        self,
        app: str,
        settings: Mapping[str, Setting],
        *,
        version: int = 0,
        marker_version: int = 0,
        parents: frozenset[str] = frozenset(),
        invalid: Mapping[str, Invalid] | None = None,
    ) -> None:
        self._app = app
        self._invalid = dict(invalid or {})
        self._settings = dict(settings)
        self._values = {key: s.value for key, s in self._settings.items()}
        self._version = version
        self._marker_version = marker_version
        self._parents = parents  # stored keys that have stored keys below them

    # --- mapping -------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        found, value, _ = lookup(self._values, key.lstrip("/") if isinstance(key, str) else key)
        if not found:
            raise NotFoundError(f"config {self._app!r} has no setting {key!r}")
        return copy.deepcopy(value) if isinstance(value, (dict, list)) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and lookup(self._values, key.lstrip("/"))[0]

    def __repr__(self) -> str:
        return f"<ConfigSnapshot {self._app!r} version={self._version} {self.to_dict()!r}>"

    def _state(self) -> ConfigSnapshot:
        return self

    # --- what else a snapshot tells --------------------------------------------------
    @property
    def app(self) -> str:
        return self._app

    @property
    def version(self) -> int:
        """The store revision at which this state holds (etcd revision, ZooKeeper zxid,
        memory revision); it grows with every change."""
        return self._version

    @property
    def marker_version(self) -> int:
        """Version of the change marker: how many coordkit changes the store has seen
        (0 if none); what ``update(expect=...)`` compares."""
        return self._marker_version

    @property
    def parents(self) -> frozenset[str]:
        return self._parents

    def to_dict(self) -> dict[str, Any]:
        """The effective settings as a plain (deep-copied) dict."""
        return copy.deepcopy(self._values)

    @property
    def invalid(self) -> dict[str, Invalid]:
        """The stored keys whose value is not JSON, with what is wrong (and their version):
        none of them is served as it is stored."""
        return dict(self._invalid)

    def stored(self) -> dict[str, Any]:
        """Only what the store holds (no defaults, no environment overrides), without the
        keys that hold no valid value (see :attr:`invalid`)."""
        return {
            k: copy.deepcopy(s.layers["store"])
            for k, s in self._settings.items()
            if "store" in s.layers and k not in self._invalid
        }

    def exportable(self) -> dict[str, Any]:
        """:meth:`stored`, for an export that must lose nothing: raises ConfigValidationError
        naming every key whose stored value is not JSON (an export without them, or with
        their last valid values, would not be what the store holds)."""
        if self._invalid:
            raise ConfigValidationError(
                "",
                f"cannot export: {', '.join(sorted(self._invalid))} hold stored "
                "values that are not valid JSON; set or delete them first "
                "(coordkit config set / config del)",
                app=self._app,
            )
        return self.stored()

    def last_valid(self, key: str) -> Stored | None:
        """The (value, text, version) the store last held validly at ``key``, as this
        snapshot serves it; None when it had none."""
        setting = self._settings.get(key)
        if setting is None or "store" not in setting.layers:
            return None
        value = setting.layers["store"]
        text = setting.text if setting.source == "store" else json.dumps(value, ensure_ascii=False)
        return value, text, setting.version

    def explain(self, key: str) -> Setting:
        """The effective :class:`Setting` of ``key``: value, source and every layer's value."""
        setting = self._settings.get(key.lstrip("/"))
        if setting is not None:
            return setting
        found, value, holder = lookup(self._values, key.lstrip("/"))
        if not found:
            raise NotFoundError(f"config {self._app!r} has no setting {key!r}")
        outer = self._settings[holder]
        return Setting(key.lstrip("/"), value, outer.source, outer.text, outer.version, {"within": holder})

    def source(self, key: str) -> str:
        """Where the effective value of ``key`` comes from: ``"default"``, ``"store"`` or
        ``"env"``."""
        return self.explain(key).source

    def settings(self) -> dict[str, Setting]:
        """Every effective setting, by key."""
        return dict(self._settings)

    def key_version(self, key: str) -> int:
        """The stored version of ``key`` (0 when it is not stored): pass it as ``version=``
        to :meth:`coordkit.Config.set` or :meth:`~coordkit.Config.delete` for compare-and-set."""
        setting = self._settings.get(key.lstrip("/"))
        return 0 if setting is None or "store" not in setting.layers else setting.version

    def text(self, key: str) -> str:
        """The value of ``key`` as written (stored text, environment text)."""
        setting = self._settings.get(key.lstrip("/"))
        if setting is None:
            raise NotFoundError(f"config {self._app!r} has no setting {key!r}")
        return setting.text


class Change(NamedTuple):
    """One key's change; ``None`` stands for "absent" (and for a stored null)."""

    old: Any
    new: Any


class ConfigChanges(Mapping[str, Change]):
    """What one change batch did: key -> (old, new) effective values, in key order.

    ``snapshot`` is the state right after the batch (the one :meth:`Config.snapshot`
    returns while listeners run) and ``previous`` the state before it (``key in
    changes.previous`` tells an added key from one that held null); ``error`` is the
    validation error when the batch left the settings outside the schema (the typed view
    then kept its last valid state).
    """

    def __init__(
        self,
        changes: Mapping[str, Change],
        snapshot: ConfigSnapshot,
        previous: ConfigSnapshot,
        error: ConfigurationError | None = None,
    ) -> None:
        self._changes = dict(sorted(changes.items()))
        self.snapshot = snapshot
        self.previous = previous
        self.error = error

    @property
    def version(self) -> int:
        return self.snapshot.version

    def __getitem__(self, key: str) -> Change:
        return self._changes[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._changes)

    def __len__(self) -> int:
        return len(self._changes)

    def __repr__(self) -> str:
        body = ", ".join(f"{k!r}: {tuple(v)!r}" for k, v in self._changes.items())
        return f"<ConfigChanges version={self.version} {{{body}}}>"

    def kind(self, key: str) -> str:
        """``"added"``, ``"changed"`` or ``"removed"``: what happened to ``key``."""
        if key not in self.previous.settings():
            return "added"
        return "removed" if key not in self.snapshot.settings() else "changed"

    def only(self, keys: tuple[str, ...]) -> ConfigChanges:
        """The changes of the given keys (a key ending in "/" stands for all keys below it)."""
        kept = {
            k: c
            for k, c in self._changes.items()
            if any(k == w or (w.endswith("/") and k.startswith(w)) for w in keys)
        }
        return ConfigChanges(kept, self.snapshot, self.previous, self.error)


def changes_between(old: ConfigSnapshot, new: ConfigSnapshot) -> dict[str, Change]:
    """The effective values that differ (as JSON values) between two snapshots."""
    before, after = old.settings(), new.settings()
    changed: dict[str, Change] = {}
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None or b is None or not same_value(a.value, b.value):
            changed[key] = Change(
                copy.deepcopy(a.value) if a else None, copy.deepcopy(b.value) if b else None
            )
    return changed


def newly_invalid(previous: ConfigSnapshot, current: ConfigSnapshot) -> list[ConfigValidationError]:
    """One error per key whose stored value became invalid (or was rewritten, still invalid)
    between two states, for the error callbacks."""
    before = previous.invalid
    return [
        ConfigValidationError(key, bad.problem, app=current.app)
        for key, bad in sorted(current.invalid.items())
        if before.get(key) != bad
    ]
