"""What applying a settings mapping would change: :class:`ConfigDiff` (``Config.load``,
``coordkit config import --dry-run``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .values import same_value

__all__ = ["ConfigDiff", "diff"]


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
        return {
            "added": dict(self.added),
            "changed": {k: {"old": old, "new": new} for k, (old, new) in self.changed.items()},
            "removed": dict(self.removed),
        }


def diff(current: Mapping[str, Any], wanted: Mapping[str, Any], *, prune: bool) -> ConfigDiff:
    """Changes turning ``current`` into ``wanted`` (with ``prune``, also removing what
    ``wanted`` lacks)."""
    added = {k: v for k, v in wanted.items() if k not in current}
    changed = {
        k: (current[k], v) for k, v in wanted.items() if k in current and not same_value(current[k], v)
    }
    removed = {k: v for k, v in current.items() if k not in wanted} if prune else {}
    return ConfigDiff(added, changed, removed)
