"""The departures a semaphore waiter counts, on ZooKeeper: one persistent recursive watch
on the queue's node that tells only deletions, with no read at all.

A user prefix watch (:class:`~.watch.ZkWatch`) reads the whole subtree when it starts and
the data of every node notified, and runs a worker thread; a semaphore waiter only counts
the DELETEs of the contenders ahead of it (see :mod:`coordkit.recipes._departures`). So this
watch only sends ``addWatch`` (PERSISTENT_RECURSIVE) and waits for its reply, and each
deletion notified below the queue's node is handed to ``on_gone`` on kazoo's reader thread,
in the order the server sent it: before the reply to any read sent after that deletion.

What holds on failure: kazoo does not re-add server watches after a reconnect, and a new
session has a new client; the backend calls :meth:`DepartureWatch.resync_soon` then (the
watch is in its set of watches), which adds the watch again on the current client, retrying
until it is armed or cancelled, then calls ``on_rearmed``: the waiter re-reads the queue, so
deletions while the watch was gone are read rather than told. A server without ``addWatch``
(before 3.6) makes :meth:`DepartureWatch.start` return False: the caller uses a prefix watch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient

from ...errors import ClosedError, CoordkitError
from .errors import TRANSLATED
from .persistent import PERSISTENT_RECURSIVE, Armed
from .watch import ZkWatch

__all__ = ["DepartureWatch", "start_departures"]

log = logging.getLogger(__name__)

_DELETED = 2  # the watch event type of a deletion
_FIRST_RETRY = 0.1
_MAX_RETRY = 2.0


class DepartureWatch(ZkWatch):
    """The deletions below one queue node; built by ``ContenderQueues.watch_departures``.
    A :class:`ZkWatch` for the backend's bookkeeping (resync, stop on close), but its worker
    thread never starts: nothing is read."""

    def __init__(
        self,
        *,
        path: str,
        on_gone: Callable[[str], None],
        on_rearmed: Callable[[], None],
        client_for: Callable[[], KazooClient],
        timeout: float,
        chrooted: bool,
        on_cancel: Callable[[ZkWatch], None],
    ) -> None:
        super().__init__(
            path=path,
            prefix=True,
            callback=lambda event: None,
            client_for=client_for,
            timeout=timeout,
            chrooted=chrooted,
            on_cancel=on_cancel,
            persistent=True,
        )
        self._on_gone, self._on_rearmed = on_gone, on_rearmed
        self._armed = Armed(path, PERSISTENT_RECURSIVE, self._notified, chrooted=chrooted)

    def _notified(self, item: Any) -> None:
        path, _, kind = item  # kazoo's reader thread: only set flags
        if kind == _DELETED and path.startswith(self._below) and not self._cancelled.is_set():
            self._on_gone(path.removeprefix("/"))

    def start_on(self, client: KazooClient, deadline: float) -> bool:
        """Add the watch and wait for the reply by ``deadline``. False: the server has no
        ``addWatch``; raises kazoo's error on any other failure (nothing is left armed)."""
        try:
            return self._armed.arm(client, deadline)
        except BaseException:
            self._armed.disarm()
            raise

    def resync_soon(self) -> None:
        """Arm again on the current client, off the caller's thread (kazoo's, which must not block)."""
        if not self._cancelled.is_set():
            threading.Thread(
                target=self._rearm, name=f"coordkit-zk-departures {self._path}", daemon=True
            ).start()

    def _rearm(self) -> None:
        retry_in = _FIRST_RETRY
        while not self._cancelled.is_set():
            try:
                if not self._armed.arm(self._client_for(), time.monotonic() + self._timeout):
                    log.warning(
                        "coordkit departures on %s: the server has no addWatch any more; the "
                        "waiter re-reads the queue only on session changes",
                        self._path,
                    )
                break
            except ClosedError:
                return
            except (CoordkitError, *TRANSLATED) as exc:  # no link or no session yet: again
                log.debug("coordkit departures on %s: re-arm failed (%r)", self._path, exc)
            except Exception:  # a bug here must not leave the waiter uncounted silently
                log.exception("coordkit departures on %s: re-arm failed", self._path)
            self._cancelled.wait(retry_in)
            retry_in = min(_MAX_RETRY, 2 * retry_in)
        if self._cancelled.is_set():
            self._armed.disarm()  # cancelled while arming: what arm() registered goes too
            return
        self._on_rearmed()


def start_departures(
    backend: Any,  # the ContenderQueues of a ZooKeeperBackend (queue.py imports this module)
    path: str,
    on_gone: Callable[[str], None],
    on_rearmed: Callable[[], None],
    timeout: float | None,
) -> DepartureWatch | None:
    """``ContenderQueues.watch_departures``: the watch, registered with the backend's watches
    first (a reconnect while arming must arm it again), armed by the call's deadline. None if
    the server has no ``addWatch`` (persistent watches are then off for the backend)."""
    limit = backend._op_timeout if timeout is None else min(backend._op_timeout, timeout)
    deadline = time.monotonic() + limit
    client = backend._usable(deadline=deadline)

    def forget(watch: ZkWatch) -> None:
        with backend._watch_lock:
            backend._watches.discard(watch)

    watch = DepartureWatch(
        path=backend._keys.to_key(path),
        on_gone=on_gone,
        on_rearmed=on_rearmed,
        client_for=backend._usable,
        timeout=backend._op_timeout,
        chrooted=bool(backend._namespace),
        on_cancel=forget,
    )
    with backend._watch_lock:
        if backend._closed:
            raise ClosedError("the ZooKeeper backend is closed")
        backend._watches.add(watch)
    try:
        with backend._errors(path, timeout=limit):
            armed = watch.start_on(client, deadline)
    except BaseException:
        watch.stop_soon()  # a resync that took it meanwhile stops re-arming it too
        raise
    if not armed:
        watch.stop_soon()
        backend._persistent = False
        return None
    return watch
