"""The read of a notified node, sent by kazoo's reader thread as it routes the notification,
and the notification handed to the watch's worker once that read is answered.

A persistent watch's worker reads the data of each node notified (:mod:`.notified`). Sent
from the worker, that read waited for two thread hops first: the reader thread handed the
notification to the worker, and the worker handed the request back to the reader thread,
which alone sends (kazoo has one connection thread). Worse, the worker, woken at once,
competed for the GIL and the two cores with the reader thread that was to send the read and
read its reply: measured on the config change path, the read left 100-700 us after the
notification and came back 1.0-1.5 ms after it, against a round trip of 0.5 ms.
:class:`Prefetcher` sends the read from the reader thread as it routes the notification and
keeps the notification until the read is answered; the worker, woken once, finds the data
there and reads nothing.

Why the answer covers the notification: it is a read sent after the notification arrived,
on the same session, exactly like the worker's read, only earlier; ZooKeeper answers it
with the node as it is at least as late as the change notified.

Order: notifications reach the worker in the order they came. One whose read is out holds
back every later one (with its own read, this session's own write's outcome, or none); a
reply releases the answered notifications at the head, once no read is out, or once the
head has waited :data:`HOLD` (so that a steady stream of changes cannot hold it for ever).
The notifications of one change (a config's keys and its marker, a register's two nodes)
thus reach the worker together, as one batch.

Answers folded in the order sent: a prefetched answer is used only if the worker has sent
no read of its own since (:meth:`Prefetched.fresh`; a full re-read counts): otherwise that
later read could be folded first, and the older answer after it would bring back a node
deleted and created again as it was before. The worker reads such a node once more. So too
with this session's own write's outcome (:mod:`.own_writes`), which is as old as that write:
a read of the worker's sent after the write is answered after the write's reply, so after
its notification was routed, and counted later still; an outcome routed before the count
moved is not folded (:meth:`Prefetcher.fresh`). A
notification held counts as arrived for the worker's inference of what vanished before its
read (:meth:`Prefetcher.held`); when the watch moves to a new client, every notification
held is released at once, those still waiting with no read (:meth:`Prefetcher.release`).

The reader thread must never wait: kazoo's own ``_call`` writes a wake-up byte to a pipe
that only this thread drains, and would block for ever on a full one. The byte is written
without waiting (``MSG_DONTWAIT``) and the request is queued only once the byte is written;
when it cannot be (a full pipe, a connection closing, a platform without ``MSG_DONTWAIT``, a
socket given a timeout by ``socket.setdefaulttimeout``, under which even ``MSG_DONTWAIT``
waits, a session not usable), nothing is sent and the worker reads, as before. Byte first,
then request, is safe only on the reader thread itself (from another, the reader could drain
the byte while the queue is still empty, and the request would wait for the next one):
:meth:`Prefetcher.route` is called there only. At most one read of a node is out per watch:
a node notified again before its read is answered is read by the worker (that read may
predate the change). Tested against kazoo 2.11.0, like :mod:`.persistent`'s hook.

On failure: kazoo fails every read out or queued when the connection drops or the session
ends, which releases the notifications held (the worker's wait for the failed read raises,
and it re-reads the whole subtree). Nothing here raises on the reader thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.serialization import GetData
from kazoo.protocol.states import KeeperState

from .own_writes import Written

__all__ = ["READ_DONE", "Prefetched", "Prefetcher", "Signalling"]

READ_DONE = object()  # a read of the worker's was answered (a marker in the worker's queue)

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", None)
HOLD = 0.002  # s: how long an answered notification may wait for a later one's read
_REFUSED = (KeeperState.AUTH_FAILED, KeeperState.CLOSED, KeeperState.EXPIRED_SESSION)


class Signalling:
    """The answer object kazoo's connection is given for a read: it sets ``result`` and then
    calls ``done`` (for the worker's read, which puts :data:`READ_DONE` in its queue; for a
    prefetched one, which releases the notifications held). Called on kazoo's reader thread,
    by the thread that fails the pending requests, or by ``_call`` on the caller's when it
    refuses the request; ``done`` must never block nor raise."""

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
    of the ``get`` (data, stat), answered by the time the worker is given the notification."""

    __slots__ = ("_owner", "_since", "result")

    def __init__(self, result: Any, owner: Prefetcher, since: int) -> None:
        self.result, self._owner, self._since = result, owner, since

    def fresh(self) -> bool:
        """False once the worker has sent a read of its own since this one was sent: that
        read may be folded first, and this older answer must not be folded after it (a
        node deleted and created again would come back as it was)."""
        return self._since == self._owner.reads


class Prefetcher:
    """One watch's reads sent from kazoo's reader thread, and its notifications held back
    until they are answered (see the module's docstring)."""

    def __init__(self, put: Callable[[object], None]) -> None:
        self._put = put
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._held: deque[tuple[Any, ...]] = deque()
        self._out: set[Prefetched] = set()  # the held notifications' reads not answered yet
        self.reads = 0  # how many times the worker has sent reads of its own

    def route(self, client: KazooClient, path: str, stamp: float, kind: int, written: Any) -> None:
        """On kazoo's reader thread: queue the notification ``(path, stamp, kind, read)`` for
        the worker, with ``written`` (this session's own write of it), else a read sent now,
        else None; held back behind any notification whose read is unanswered."""
        with self._lock:
            if written is None:
                written = self._send(client, path)
            elif isinstance(written, Written):
                written.since = self.reads  # like a read sent now (see fresh)
            item = (path, stamp, kind, written)
            if isinstance(written, Prefetched):
                self._out.add(written)
            if self._held or isinstance(written, Prefetched):
                self._held.append(item)
            else:
                self._put(item)

    def fresh(self, answer: Any) -> bool:
        """False for a prefetched answer, or this session's own write's outcome, routed before
        the worker last sent reads of its own: that write, or that read, may be older than
        what the worker's reads folded since (see :meth:`Prefetched.fresh`)."""
        if isinstance(answer, Prefetched):
            return answer.fresh()
        return not isinstance(answer, Written) or answer.since in (None, self.reads)

    def worker_read(self) -> None:
        """The worker has sent reads of its own (call it once they are answered, or failed:
        queued is enough for a prefetched answer, not for an own write's outcome, see
        :meth:`fresh`): any answer or outcome routed before is no longer fresh."""
        with self._lock:
            self.reads += 1

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around reads the worker sends: :meth:`worker_read` once they are (or failed)."""
        try:
            yield
        finally:
            self.worker_read()

    def held(self) -> list[str]:
        """The paths of the notifications held now (arrived, not yet given to the worker)."""
        with self._lock:
            return [item[0] for item in self._held]

    def release(self) -> None:
        """Give the worker every notification held, those whose reads are out with none (the
        worker reads): the watch moves to a new client, whose notifications must not wait
        for the old one's replies."""
        with self._lock:
            self._out.clear()
            while self._held:
                path, stamp, kind, read = self._held.popleft()
                self._put((path, stamp, kind, None if self._waiting_on(read) else read))

    def _answered(self, path: str, read: Prefetched) -> None:
        """A read was answered (or failed): release the notifications it allows."""
        with self._lock:
            self._in_flight.discard(path)
            self._out.discard(read)
            if not self._held or (self._out and time.monotonic() - self._held[0][1] < HOLD):
                return  # the others of the change are still out: they go together
            while self._held and not self._waiting_on(self._held[0][3]):
                self._put(self._held.popleft())

    @staticmethod
    def _waiting_on(read: Any) -> bool:
        return isinstance(read, Prefetched) and not read.result.ready()

    def _send(self, client: KazooClient, path: str) -> Prefetched | None:
        """The read of ``path``, queued with its wake-up byte; None when none could be."""
        if _DONTWAIT is None or path in self._in_flight or client._state in _REFUSED:
            return None
        wake = client._connection._write_sock
        if wake is None or wake.gettimeout() not in (None, 0.0):
            return None  # a timeout (socket.setdefaulttimeout) makes even MSG_DONTWAIT wait
        try:
            wake.send(b"\0", _DONTWAIT)
        except OSError:  # full (BlockingIOError) or closed: the worker reads
            return None
        result = client.handler.async_result()
        self._in_flight.add(path)
        prefetched = Prefetched(result, self, self.reads)  # counted before it is queued
        request = GetData(_prefix_root(client.chroot, path), None)
        client._queue.append((request, Signalling(result, lambda: self._answered(path, prefetched))))
        return prefetched
