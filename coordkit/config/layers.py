"""The layers of an effective value: environment over store over defaults.

The environment layer is the variables starting with a config's ``env_prefix``
(``PAYMENTS_DB__POOL_SIZE`` is ``db/pool_size``), read once at construction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backends.base import Entry
from ..errors import ConfigurationError, InvalidNameError
from .snapshot import ConfigSnapshot, Stored
from .values import MARKER, Invalid, Setting, decode, is_hidden, normalize_key, parse_text

__all__ = ["Layers", "env_name", "env_overrides", "env_prefix_of", "merge_layers"]


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
        key = names.get(var) or var[len(prefix) :].lower().replace("__", "/")
        try:
            found[normalize_key(key)] = text
        except InvalidNameError:
            continue  # not a name a setting could have: not meant for us
    return found


def _default_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def merge_layers(
    defaults: Mapping[str, Any], stored: Mapping[str, tuple[Any, str, int]], env: Mapping[str, str]
) -> dict[str, Setting]:
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
        settings[key] = Setting(chosen.key, chosen.value, chosen.source, chosen.text, chosen.version, layers)
    return settings


@dataclass(frozen=True)
class Layers:
    """What a config adds to the stored values: defaults, and environment overrides (the
    variables starting with ``env_prefix``, as read at construction)."""

    defaults: Mapping[str, Any]
    env_prefix: str | None
    environ: Mapping[str, str]
    schema_keys: frozenset[str] = frozenset()

    def snapshot(
        self, app: str, root: str, entries: list[Entry], revision: int, previous: ConfigSnapshot | None = None
    ) -> ConfigSnapshot:
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
            key = entry.key[len(prefix) :]
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
        return ConfigSnapshot(
            app,
            merge_layers(self.defaults, stored, env),
            version=revision,
            marker_version=marker_version,
            parents=frozenset(parents),
            invalid=invalid,
        )
