"""The write path of :class:`coordkit.Config`: schema checks, one atomic commit, conflicts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CommitTooLargeError, ConfigValidationError, ConflictError, KeyExistsError
from ..names import MAX_COMMIT_OPS
from .schema import Schema
from .snapshot import ConfigSnapshot
from .store import change_ops
from .values import encode, unflatten

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["Writer"]


class Writer:
    """Writes one application's settings under ``root`` as single commits."""

    def __init__(
        self, client: Store, root: str, app: str, *, schema: Schema | None, defaults: Mapping[str, Any]
    ) -> None:
        self._client, self._root, self._app = client, root, app
        self._schema, self._defaults = schema, defaults

    def write(
        self,
        puts: dict[str, Any],
        deletes: list[str],
        *,
        base: ConfigSnapshot,
        versions: dict[str, int] | None,
        expect: ConfigSnapshot | None,
    ) -> int:
        """Apply ``puts`` and ``deletes`` (with the change marker) in one commit; returns its
        revision. ``base`` is the state the writer knows; see ``Config.update`` for the rest.
        Raises ConfigValidationError or CommitTooLargeError (nothing written) or a
        ConflictError naming the config."""
        encoded = {key: encode(key, value) for key, value in puts.items()}
        self.check(base, puts, deletes)
        known = expect or base
        # Keys never seen are written as creates (one round trip on ZooKeeper, which
        # otherwise learns one new key per attempt); if one appeared meanwhile, write
        # again without that guess.
        guesses = (
            frozenset()
            if versions is not None
            else frozenset(k for k in encoded if k not in known.settings() and k not in known.parents)
        )
        self._check_size(len(encoded) + len(deletes))
        while True:
            ops = change_ops(
                self._root,
                encoded,
                deletes,
                versions=versions,
                marker_version=None if expect is None else expect.marker_version,
                parents=known.parents,
                blank_parents=self._client.backend.capabilities.stored_parents,
                absent=guesses,
            )
            try:
                results = self._client.commit(ops)
                break
            except KeyExistsError as exc:
                if not guesses:
                    raise self._conflict(exc) from None
                guesses = frozenset()
            except ConflictError as exc:
                raise self._conflict(exc) from None
        return max(entry.mod_revision for entry in results if entry is not None)

    def _check_size(self, keys: int) -> None:
        """One change is one commit, and the commit also writes the change marker."""
        if keys + 1 > MAX_COMMIT_OPS:
            raise CommitTooLargeError(
                f"config {self._app!r}: one change writes or removes at most {MAX_COMMIT_OPS - 1} keys "
                f"(a commit holds {MAX_COMMIT_OPS} ops on every backend, etcd's --max-txn-ops, and one "
                f"is the change marker), not {keys}; split it into several changes"
            )

    def _conflict(self, exc: ConflictError) -> ConflictError:
        return type(exc)(
            f"config {self._app!r}: the change lost a race with another change ({exc}); "
            "read the config again and retry"
        )

    def check(self, base: ConfigSnapshot, puts: dict[str, Any], deletes: list[str]) -> None:
        """Refuse a change that makes valid settings invalid, or whose own keys are wrong.
        The environment is left out: it is local to this process, the store is not."""
        if self._schema is None:
            return
        current = {**self._defaults, **base.stored()}
        after = {k: v for k, v in {**current, **copy.deepcopy(puts)}.items() if k not in deletes}
        after.update({k: self._defaults[k] for k in deletes if k in self._defaults})
        try:
            self._schema.build(unflatten(after))
        except ConfigValidationError as exc:
            touched = [*puts, *deletes]
            mine = any(
                exc.key == k or exc.key.startswith(k + "/") or k.startswith(exc.key + "/") for k in touched
            )
            try:
                self._schema.build(unflatten(current))
            except ConfigValidationError:
                if not mine:
                    return  # already invalid, and not because of the keys written now
            raise exc.for_app(self._app) from None
