"""The writing half of :class:`coordkit.config.Config`: ``set``, ``delete``, ``update``,
``load`` and ``modify``, each one atomic change through :mod:`.writer`, and
the read-your-writes wait after it. A mixin: the state it uses is the Config's."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from ..core.retry import QUICK
from ..errors import ConfigurationError, ConflictError, CoordkitError
from ..names import join
from .diff import ConfigDiff, diff
from .follower import Follower
from .snapshot import ConfigSnapshot
from .values import flat_mapping, normalize_key
from .writer import Writer

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["Edits"]

log = logging.getLogger(__name__)


class Edits:
    """The changes a writable :class:`~coordkit.config.Config` makes to the store."""

    __slots__ = ()

    _client: Store
    _app: str
    _root: str
    _writer: Writer
    _writable: bool
    _live: bool
    _follower: Follower
    _snapshot: ConfigSnapshot

    def refresh(self, timeout: float | None = None) -> ConfigSnapshot:
        raise NotImplementedError

    def set(self, key: str, value: Any, *, version: int | None = None) -> int:
        """Store ``value`` (any JSON value) at ``key``; returns the change's revision.

        ``version``: compare-and-set, only if the key's stored version is still that
        (:meth:`ConfigSnapshot.key_version`; 0: only if the key is not stored), else
        VersionConflictError (or KeyExistsError) and nothing is written. Raises
        ConfigValidationError before writing if the schema refuses the result. Returns once
        this config shows the change (within the client's timeout). Not retried: a
        BackendUnavailableError means the write may or may not have happened.
        """
        key = normalize_key(key)
        return self._write({key: value}, [], versions=None if version is None else {key: version})

    def delete(self, key: str, *, version: int | None = None) -> bool:
        """Remove the stored value of ``key`` (defaults and environment still apply).
        Returns False if nothing was stored there. ``version`` as in :meth:`set`."""
        key = normalize_key(key)
        self._require_writable()
        entry = self._client.get(join(self._root, key))
        if (entry is None or not entry.value) and not version:  # empty: a parent, no setting
            return False
        self._write({}, [key], versions=None if version is None else {key: version})
        return True

    def update(
        self, values: Mapping[str, Any], *, delete: Iterable[str] = (), expect: ConfigSnapshot | None = None
    ) -> int:
        """Store every key of ``values`` and remove every key in ``delete`` in one atomic
        change (etcd: one transaction; ZooKeeper: one multi); returns its revision.

        ``expect``: a snapshot this change is based on; the change fails with a
        ConflictError if any key it writes or deletes, or any other coordkit change, came
        after that snapshot. Raises ConfigValidationError before writing if the schema
        refuses the result; nothing is written then.
        """
        puts = flat_mapping(values, "update()")
        deletes = [normalize_key(k) for k in delete]
        versions = None if expect is None else {k: expect.key_version(k) for k in [*puts, *deletes]}
        return self._write(puts, deletes, versions=versions, expect=expect)

    def load(self, values: Mapping[str, Any], *, prune: bool = False, dry_run: bool = False) -> ConfigDiff:
        """Make the stored settings match ``values`` (an import): one atomic change writing
        what differs and, with ``prune``, removing stored keys ``values`` lacks. With
        ``dry_run`` nothing is written. Returns the difference (applied or not). Fails with a
        ConflictError if the store changed between the read and the write."""
        wanted = flat_mapping(values, "the settings to load")
        snapshot = self.refresh()
        plan = diff(snapshot.stored(), wanted, prune=prune)
        if plan and not dry_run:
            self.update(plan.writes(), delete=list(plan.removed), expect=snapshot)
        return plan

    def modify(
        self, change: Callable[[dict[str, Any]], Mapping[str, Any] | None], *, attempts: int = 5
    ) -> ConfigDiff:
        """Read-modify-write: ``change`` gets a copy of the stored settings, edits it in
        place (or returns a new mapping), and the result is stored atomically with
        compare-and-set; on a conflict ``change`` runs again on a fresh read after a short
        jittered pause, at most ``attempts`` times (then the ConflictError is raised and the
        store holds the other writer's change). Returns what changed."""
        # A conflict means another writer just moved: a short jittered pause lets it finish
        # instead of the writers colliding again in step.
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=QUICK,
            reraise=True,
            retry=retry_if_exception_type(ConflictError),
        )
        for attempt in retrying:
            with attempt:
                snapshot = self.refresh()
                draft = snapshot.stored()
                result = change(draft)
                plan = diff(
                    snapshot.stored(),
                    flat_mapping(draft if result is None else result, "modify()'s result"),
                    prune=True,
                )
                if plan:
                    self.update(plan.writes(), delete=list(plan.removed), expect=snapshot)
        return plan

    def _require_writable(self) -> None:
        if not self._writable:
            raise ConfigurationError(
                f"config {self._app!r} is read-only: open it with "
                f"client.config({self._app!r}, writable=True) to change it"
            )

    def _write(
        self,
        puts: dict[str, Any],
        deletes: list[str],
        *,
        versions: dict[str, int] | None,
        expect: ConfigSnapshot | None = None,
    ) -> int:
        self._require_writable()
        revision = self._writer.write(puts, deletes, base=self._snapshot, versions=versions, expect=expect)
        self._catch_up(revision)
        return revision

    def _catch_up(self, revision: int) -> None:
        # Read-your-writes: return once this config shows the change.
        if not self._live:
            try:
                self._follower.sync()
            except CoordkitError as exc:  # the write happened: do not report it as failed
                log.info(
                    "coordkit config %s: change %d written; reading it back failed: %s",
                    self._app,
                    revision,
                    exc,
                )
        elif not self._follower.on_own_thread() and not self._follower.wait_for(
            lambda: self._follower.revision >= revision, self._client.timeout
        ):
            log.info("coordkit config %s: change %d written but not yet seen", self._app, revision)
