"""Immutable views of a live configuration: :class:`ConfigSnapshot` and :class:`ConfigChanges`."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._config_access import TypedGetters
from ._config_schema import ConfigValidationError
from ._config_values import (
    MARKER,
    Invalid,
    Setting,
    decode,
    env_overrides,
    is_hidden,
    lookup,
    merge_layers,
    same_value,
)
from .backends.base import Entry
from .errors import ConfigurationError, NotFoundError

__all__ = ["Change", "ConfigChanges", "ConfigSnapshot", "Layers", "changes_between", "newly_invalid"]

Stored = tuple[Any, str, int]  # a stored key's value, text and version


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

    def __init__(self, app: str, settings: Mapping[str, Setting], *, version: int = 0,
                 marker_version: int = 0, parents: frozenset[str] = frozenset(),
                 invalid: Mapping[str, Invalid] | None = None) -> None:
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
        return {k: copy.deepcopy(s.layers["store"]) for k, s in self._settings.items()
                if "store" in s.layers and k not in self._invalid}

    def exportable(self) -> dict[str, Any]:
        """:meth:`stored`, for an export that must lose nothing: raises ConfigValidationError
        naming every key whose stored value is not JSON (an export without them, or with
        their last valid values, would not be what the store holds)."""
        if self._invalid:
            raise ConfigValidationError("", f"cannot export: {', '.join(sorted(self._invalid))} hold stored "
                                        "values that are not valid JSON; set or delete them first "
                                        "(coordkit config set / config del)", app=self._app)
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
        return Setting(key.lstrip("/"), value, outer.source, outer.text, outer.version,
                       {"within": holder})

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

    def __init__(self, changes: Mapping[str, Change], snapshot: ConfigSnapshot,
                 previous: ConfigSnapshot, error: ConfigurationError | None = None) -> None:
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
        kept = {k: c for k, c in self._changes.items()
                if any(k == w or (w.endswith("/") and k.startswith(w)) for w in keys)}
        return ConfigChanges(kept, self.snapshot, self.previous, self.error)


def changes_between(old: ConfigSnapshot, new: ConfigSnapshot) -> dict[str, Change]:
    """The effective values that differ (as JSON values) between two snapshots."""
    before, after = old.settings(), new.settings()
    changed: dict[str, Change] = {}
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None or b is None or not same_value(a.value, b.value):
            changed[key] = Change(copy.deepcopy(a.value) if a else None, copy.deepcopy(b.value) if b else None)
    return changed


@dataclass(frozen=True)
class Layers:
    """What a config adds to the stored values: defaults, and environment overrides (the
    variables starting with ``env_prefix``, as read at construction)."""

    defaults: Mapping[str, Any]
    env_prefix: str | None
    environ: Mapping[str, str]
    schema_keys: frozenset[str] = frozenset()

    def snapshot(self, app: str, root: str, entries: list[Entry], revision: int,
                 previous: ConfigSnapshot | None = None) -> ConfigSnapshot:
        """The effective state of the entries read below ``root`` at ``revision``. A key whose
        stored value is not JSON keeps its value in ``previous`` (the state served until now)."""
        prefix = root + "/"
        stored: dict[str, Stored] = {}
        invalid: dict[str, Invalid] = {}
        parents: set[str] = set()
        marker_version = 0
        for entry in entries:
            if not entry.key.startswith(prefix):
                continue
            key = entry.key[len(prefix):]
            parts = key.split("/")
            parents.update("/".join(parts[:i]) for i in range(1, len(parts)))
            if key == MARKER:
                marker_version = entry.version
            elif is_hidden(key) or (decoded := decode(entry.value)) is None:
                continue
            elif isinstance(decoded, Invalid):
                invalid[key] = Invalid(decoded.problem, entry.version)
                if previous is not None and (kept := previous.last_valid(key)) is not None:
                    stored[key] = kept  # the last valid value, never the text
            else:
                stored[key] = (decoded[0], decoded[1], entry.version)
        known = {*self.defaults, *stored, *self.schema_keys}
        env = env_overrides(self.env_prefix, self.environ, known)
        return ConfigSnapshot(app, merge_layers(self.defaults, stored, env), version=revision,
                              marker_version=marker_version, parents=frozenset(parents), invalid=invalid)


def newly_invalid(previous: ConfigSnapshot, current: ConfigSnapshot) -> list[ConfigValidationError]:
    """One error per key whose stored value became invalid (or was rewritten, still invalid)
    between two states, for the error callbacks."""
    before = previous.invalid
    return [ConfigValidationError(key, bad.problem, app=current.app)
            for key, bad in sorted(current.invalid.items()) if before.get(key) != bad]
