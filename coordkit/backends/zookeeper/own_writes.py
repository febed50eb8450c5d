"""Reads a session need not send: the nodes that its own writes in flight set.

A persistent watch's worker reads the data of each node notified (:mod:`.notified`). When
the change is this session's own write, the write's reply will carry the node's stat, and
its data is what was written; reading it back only adds load at the moment every follower of
that change is reading too. So a write that sets nodes (a multi's ``set_data`` ops, a plain
``set``) is noted here as it is sent, and a notification of one of those nodes that comes
*before that reply* takes the write's outcome for its read.

Why that is the node's state, not an older one: ZooKeeper sends a session the notification of
a change before its reply to any request applied after that change, and a session's
requests are applied in order. A notification read before the write's reply is therefore of
a change applied before the write (or of the write itself), so the node as the write left it
covers it (with several writes of the node unanswered, each of them does); a later change's
notification comes after the reply, when the write no longer counts here. That needs the
write's async result to be set on kazoo's reader thread, the thread that routes
notifications, before it reads on: true of the results that ``KazooClient._call`` is given
(``set_async``, a transaction's ``commit_async``), not of those kazoo sets from a completion
callback (``create_async``), which must not be noted. A
write that failed changed nothing: the notification is someone else's, and the node is
read as usual; so is a node whose write's outcome is unknown (the connection dropped).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.states import ZnodeStat

__all__ = ["OwnWrites", "Written", "expect_writes", "the_reply"]

Pick = Callable[[Any], Any]  # the reply of the write -> the node's ZnodeStat (else: not written)


def the_reply(reply: Any) -> Any:
    """The pick of a ``set``, whose reply is the stat."""
    return reply


class Written:
    """A node's ``(data, stat)`` as this session's write left it, in the shape of kazoo's
    async result (``ready``, ``rawlink``, ``get``); read from the server if the write failed."""

    def __init__(self, client: KazooClient, path: str, pending: Any, value: bytes, pick: Pick) -> None:
        self._client, self._path, self._pending, self._value, self._pick = client, path, pending, value, pick
        self.fell_back = False  # read from the server (the write failed): a read of the worker's
        self.since: int | None = None  # the worker's read count when it was routed (.prefetch)

    def ready(self) -> bool:
        return bool(self._pending.ready())

    def rawlink(self, callback: Callable[[Any], None]) -> None:
        self._pending.rawlink(lambda _: callback(self))

    def get(self, block: bool = True, timeout: float | None = None) -> tuple[bytes, ZnodeStat]:
        """Raises what the write raised (its timeout too) or, if it failed, what a read raises."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            stat = self._pick(self._pending.get(block, timeout))
        except self._client.handler.timeout_exception:
            raise
        except Exception:  # noqa: BLE001 - the write failed, so the change was someone else's
            stat = None
        if isinstance(stat, ZnodeStat):
            return self._value, stat
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.fell_back = True
        return self._client.get_async(self._path).get(block, remaining)  # type: ignore[no-any-return]


class OwnWrites:
    """The writes of one kazoo client whose replies have not been read yet, by node."""

    def __init__(self, client: KazooClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._writes: dict[str, list[tuple[Any, bytes, Pick]]] = {}

    def expect(self, pending: Any, writes: Mapping[str, tuple[bytes, Pick]]) -> None:
        """Note that ``pending`` (a kazoo async result) writes these nodes: path -> (the
        value, how to find its stat in the reply). Noted after the write was queued, it may
        come too late for some notifications: those are read, as without it."""
        with self._lock:
            for path in list(self._writes):  # the answered ones no longer count
                self._unanswered(path)
            if not pending.ready():
                for path, (value, pick) in writes.items():
                    self._writes.setdefault(path, []).append((pending, bytes(value), pick))

    def written(self, path: str) -> Written | None:
        """The node's state as this session's unanswered write of it will leave it, or None
        (not written by it, or answered: it must be read). On the client's reader thread, as
        the node's notification is routed; never blocks on the network."""
        with self._lock:
            waiting = self._unanswered(path)
        if not waiting:
            return None
        pending, value, pick = waiting[-1]  # any unanswered one covers the change (see the module)
        return Written(self._client, path, pending, value, pick)

    def _unanswered(self, path: str) -> list[tuple[Any, bytes, Pick]]:
        """The writes of ``path`` still unanswered; forgets the others (under the lock)."""
        waiting = [w for w in self._writes.get(path, ()) if not w[0].ready()]
        if waiting:
            self._writes[path] = waiting
        else:
            self._writes.pop(path, None)
        return waiting


def expect_writes(client: KazooClient, pending: Any, writes: Mapping[str, tuple[bytes, Pick]]) -> None:
    """Note a write on ``client`` for its persistent watches, if it has any (else nothing)."""
    router = getattr(client, "_coordkit_router", None)
    if router is not None and writes and router.routing:
        router.own.expect(pending, writes)
