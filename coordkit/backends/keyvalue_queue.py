"""The contender queue built on the key/value calls of the contract (the memory backend's), and
the wait for departures by watching the keys (memory's).

Layout: a contender is the ephemeral key ``<path>/<session hex>`` (with ``unique``:
``<path>/<session hex>-<attempt, 12 hex>``), ordered by create revision, as on etcd. Here a
join is a few calls, not one round trip: the memory store answers in-process.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Sequence

from ..errors import ConflictError, KeyExistsError
from .base import Backend, Check, Delete, Entry, EventType, Put, WatchEvent
from .contender_queue import Contender, QueueView

__all__ = ["KeyValueQueue", "wait_any_gone_by_watch", "wait_gone_by_watch"]


def _contender(entry: Entry) -> Contender:
    return Contender(
        entry.key.removeprefix("/"), entry.create_revision, entry.create_revision, entry.value, entry.version
    )


class KeyValueQueue(Backend):
    """The contender-queue calls over ``get``/``put``/``commit``/``tree``/``watch``."""

    _attempts: dict[str, str]  # contender key -> the join attempt that made it (set by __init__)

    def queue_join(
        self,
        path: str,
        value: bytes,
        *,
        unique: bool = False,
        attempt: str | None = None,
        timeout: float | None = None,
    ) -> QueueView:
        """Create the contender unless this attempt (or, without one, this session) made it,
        replacing one left behind by an earlier attempt; then list the queue."""
        suffix = (attempt or uuid.uuid4().hex)[:12]
        key = f"{path.rstrip('/')}/{self.session_id:x}" + (f"-{suffix}" if unique else "")
        previous, self._attempts[key] = self._attempts.pop(key, None), attempt or ""
        while len(self._attempts) > 1024:
            self._attempts.pop(next(iter(self._attempts)))
        existing = self.get(key)
        if (
            existing is not None
            and existing.lease == self.session_id
            and attempt is not None
            and previous != attempt
            and not unique
        ):
            # Left behind by an earlier join: a new contender at the back, with a new token.
            self.commit([Check(key, create_revision=existing.create_revision), Delete(key)])
            existing = None
        if existing is None:  # (commit, not put: one call less between a lock's acquire and the store)
            try:
                existing = self.commit([Put(key, value, create=True, ephemeral=True)])[0]
            except KeyExistsError:  # made meanwhile by this very join, retried elsewhere
                existing = self.get(key)
        assert existing is not None, key  # ephemeral keys of a live session stay
        contenders, revision = self.queue_list(path)
        return QueueView(_contender(existing), contenders, revision)

    def queue_list(
        self, path: str, *, values: bool = False, timeout: float | None = None
    ) -> tuple[list[Contender], int]:
        """The keys directly under ``path`` by create revision (always with values)."""
        entries, revision = self.tree(path)
        depth = path.strip("/").count("/") + 1  # contenders are the immediate children
        found = [_contender(e) for e in entries if e.key.strip("/").count("/") == depth]
        return sorted(found, key=lambda c: c.sequence), revision

    def queue_update(self, mine: Contender, value: bytes) -> Contender:
        """One commit checking the incarnation and the version, then writing."""
        entry = self.commit(
            [
                Check(mine.key, version=mine.version, create_revision=mine.create_revision),
                Put(mine.key, value, ephemeral=True),
            ]
        )[1]
        assert entry is not None
        return Contender(mine.key, mine.sequence, entry.create_revision, entry.value, entry.version)

    def queue_leave(self, mine: Contender, *, timeout: float | None = None) -> None:
        """One commit deleting the key if it is still that incarnation."""
        with contextlib.suppress(ConflictError):  # gone already, or another incarnation: not ours
            self.commit([Check(mine.key, create_revision=mine.create_revision or None), Delete(mine.key)])

    def wait_gone(
        self, key: str, timeout: float | None, wake: threading.Event, *, create_revision: int = 0
    ) -> bool:
        """See :func:`wait_gone_by_watch`."""
        return wait_gone_by_watch(self, key, timeout, wake, create_revision=create_revision)

    def wait_any_gone(
        self,
        ahead: Sequence[Contender],
        timeout: float | None,
        wake: threading.Event,
        *,
        since_revision: int = 0,
    ) -> set[str]:
        """See :func:`wait_any_gone_by_watch`."""
        return wait_any_gone_by_watch(self, ahead, timeout, wake)


def wait_gone_by_watch(
    backend: Backend, key: str, timeout: float | None, wake: threading.Event, *, create_revision: int = 0
) -> bool:
    """:func:`wait_any_gone_by_watch` for one key: True once that incarnation is gone."""
    return bool(wait_any_gone_by_watch(backend, [Contender(key, 0, create_revision)], timeout, wake))


def wait_any_gone_by_watch(
    backend: Backend, ahead: Sequence[Contender], timeout: float | None, wake: threading.Event
) -> set[str]:
    """Watch each contender's key, then read it: the keys of those gone (each that incarnation,
    when its create revision is known), once one is. Returns an empty set early if ``timeout``
    passed or ``wake`` was set by somebody else (at once for no contenders). Each watch's start
    is bounded by ``timeout`` too (BackendUnavailableError), so a wait's bound holds. Once this
    returns, an event still on its way sets ``wake`` no more (the caller may be waiting again)."""
    lock, gone, ended = threading.Lock(), set[str](), threading.Event()

    def departure(contender: Contender) -> Callable[[WatchEvent], None]:
        def on_event(event: WatchEvent) -> None:
            incarnation = contender.create_revision
            if event.type is EventType.DELETE or (
                incarnation and event.entry is not None and event.entry.create_revision != incarnation
            ):
                with lock:
                    if not ended.is_set():
                        gone.add(contender.key)
                        wake.set()

        return on_event

    if not ahead:
        return set()
    watches = []
    try:
        for contender in ahead:
            watches.append(backend.watch(contender.key, departure(contender), prefix=False, timeout=timeout))
        for contender in ahead:
            current = backend.get(contender.key)
            if current is None or (
                contender.create_revision and current.create_revision != contender.create_revision
            ):
                with lock:
                    gone.add(contender.key)
        with lock:
            if gone:
                return set(gone)
        wake.wait(timeout)
        with lock:
            return set(gone)
    finally:
        with lock:
            ended.set()
        for watch in watches:
            watch.cancel_nowait()  # the callbacks only set events: no need to wait, off the hot path
