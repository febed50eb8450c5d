"""The read of a notified node, sent by kazoo's reader thread as it routes the notification.

A persistent watch's worker reads the data of each node notified (:mod:`.notified`). Sent
from the worker, that read waits for two thread hops first: the reader thread hands the
notification to the worker, and the worker hands the request back to the reader thread,
which is also the one that sends (kazoo has one connection thread). On two cores that
also run the server and the writer, the two hops measured 100-250 us before the read left,
on the path of every change a discovery cache or a config delivers. :func:`prefetch` sends
it from the reader thread at once; the worker uses its answer instead of reading.

Why the answer covers the notification: it is a read sent after the notification arrived,
on the same session, exactly like the worker's read, only earlier; ZooKeeper answers it
with the node as it is at least as late as the change notified.

The reader thread must never wait: kazoo's own ``_call`` writes a wake-up byte to a pipe
that only this thread drains, and would block for ever on a full one. :func:`prefetch`
writes that byte without waiting (``MSG_DONTWAIT``) and queues the request only once the
byte is written; when it cannot (a full pipe, a connection closing, a platform without
``MSG_DONTWAIT``, a session not usable), it sends nothing and the worker reads, as before.
The byte and the request are queued by the thread that sends them, so nothing can take one
without the other. Tested against kazoo 2.11.0, like :mod:`.persistent`'s hook.

At most one prefetched read of a node is in flight per watch: a node notified again before
that read is answered is read by the worker (that read may predate the change), so a burst
of changes to one node costs no more reads than the worker's batches would.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.serialization import GetData
from kazoo.protocol.states import KeeperState

__all__ = ["READ_DONE", "Prefetched", "Prefetcher", "Signalling"]

READ_DONE = object()  # a read of the worker's was answered (a marker in the worker's queue)

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", None)
_REFUSED = (KeeperState.AUTH_FAILED, KeeperState.CLOSED, KeeperState.EXPIRED_SESSION)


class Signalling:
    """The answer object kazoo's connection is given for a read: it sets ``result`` and then
    calls ``done`` (which puts :data:`READ_DONE` in the worker's queue). Called on kazoo's
    reader thread, or by ``_call`` on the caller's when it refuses the request; ``done`` must
    never block (a ``SimpleQueue.put``)."""

    __slots__ = ("_done", "_result")

    def __init__(self, result: Any, done: Callable[[], None]) -> None:
        self._result, self._done = result, done

    def set(self, value: Any = None) -> None:
        self._result.set(value)
        self._done()

    def set_exception(self, exception: BaseException) -> None:
        self._result.set_exception(exception)
        self._done()


class Prefetched:
    """A notification's read, sent by :class:`Prefetcher`: ``result`` is kazoo's async result
    of the ``get`` (data, stat); :data:`READ_DONE` reaches the worker's queue once answered."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result


class Prefetcher:
    """The reads one watch sends from kazoo's reader thread, at most one per node in flight."""

    def __init__(self, put: Callable[[object], None]) -> None:
        self._put = put
        self._in_flight: set[str] = set()  # added and discarded on the reader thread (or by close)

    def prefetch(self, client: KazooClient, path: str) -> Prefetched | None:
        """On kazoo's reader thread: send a read of ``path`` now; None when none was sent."""
        if _DONTWAIT is None or path in self._in_flight or client._state in _REFUSED:
            return None
        wake = client._connection._write_sock
        if wake is None:
            return None
        try:
            wake.send(b"\0", _DONTWAIT)
        except OSError:  # full (BlockingIOError) or closed: the worker reads
            return None
        result = client.handler.async_result()
        self._in_flight.add(path)

        def done() -> None:
            self._in_flight.discard(path)
            self._put(READ_DONE)

        client._queue.append((GetData(_prefix_root(client.chroot, path), None), Signalling(result, done)))
        return Prefetched(result)
