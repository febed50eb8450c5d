"""Waiting for a contender to leave, on one watch stream per connection.

A lock or election waiter waits for exactly the contender ahead of it (a semaphore waiter
for the few nearest ahead, one watch each, :meth:`EtcdDepartures.wait_any_gone`). A user watch
(:class:`~.watch.EtcdWatch`) costs a gRPC stream, a reader thread and a callback thread each,
and starts after a read; a departure wait needs none of that: it only sets the waiter's event.
So every departure wait of one :class:`~.conn.EtcdConnection` adds a watch to ONE long-lived
bidirectional Watch stream (opened on first use), starting at the revision at which the
waiter read the queue plus one (a delete after that read is delivered; no extra read), and
cancels it by watch id when done. One reader thread routes each response by watch id to its
waiter: the departure sets the waiter's ``wake`` directly.

A wait ended by its departure does not cancel its watch at once: its waiter reads the queue
next, and the cancel, sent meanwhile, would compete with that read (the stream's sender
thread wakes to write it) on the path of every lock handoff. Its cancel goes out after that
read (:meth:`EtcdDepartures.flush`, called by the queue read) or with the next wait's create,
whichever comes first; until then the server keeps a watch on a key already gone, whose
events, if any, are routed to nobody. The other waits of a semaphore waiter's window that the
same departure ended are cancelled likewise, after that read. A wait ended otherwise (timeout,
woken, cancelled) cancels at once.

python-etcd3 0.12's WatchCreateRequest has no ``watch_id``: etcd answers the create
requests of a stream in the order sent, so each "created" response belongs to the oldest
create still unanswered (requests are queued and recorded under one lock, in one order).

What holds on failure:

* the stream breaks (server restart, failover, cut link): every waiter on it is woken and its
  wait returns False, so it re-reads the queue as after any outage; the next wait opens a new
  stream. A stream that does not say "created" within the set-up bound is given up the same
  way (a stream opened during a restart can be lost inside gRPC).
* a start revision already compacted, or a create refused: that wait is woken and returns
  False; the waiter re-reads the queue, which gives it a current revision to start from.
* a stale auth token (the stream or a create refused for it): the token is forgotten, the
  stream is broken as above, and the next stream authenticates again.
* ``close()``: the stream is cut, every waiter woken, the reader thread joined.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc

from ...errors import BackendUnavailableError, ClosedError, NotFoundError
from .auth import is_stale_reason, is_stale_token
from .conn import EtcdConnection, Stubs, etcdrpc, translate
from .ops import read

__all__ = ["END", "EtcdDepartures", "StreamState", "cut", "route"]

_DELETE = 1  # mvccpb.Event.EventType.DELETE
_LINK_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
END = object()  # put in a stream's request queue: our half of the stream closes
_SETUP_BOUND = 1.0  # seconds a create has to be answered; doubles (to the call timeout) while none is


class _Wait:
    """One departure wait. ``created`` is set once the server answered its create (or the
    wait ended); ``finish`` ends it and sets the waiter's ``wake``."""

    __slots__ = ("create_revision", "created", "done", "gone", "wake", "watch_id")

    def __init__(self, create_revision: int, wake: threading.Event) -> None:
        self.create_revision, self.wake = create_revision, wake
        self.created = threading.Event()
        self.done = self.gone = False  # (under the departures' lock)
        self.watch_id: int | None = None

    def finish(self, *, gone: bool = False) -> None:
        """A departure (``gone``), or anything after which the waiter must re-read the queue:
        a broken stream, a refused or compacted watch."""
        self.gone = self.gone or gone
        self.created.set()
        self.wake.set()


class StreamState:
    """What a departure stream keeps, in this module and in :mod:`.aio_departures`: its waits
    by watch id, the creates unanswered, the cancels left for later; ``put`` queues a request
    for the stream without waiting."""

    def __init__(self, stubs: Stubs, put: Callable[[Any], None]) -> None:
        self.stubs, self.generation, self._put = stubs, stubs.client.authentications, put
        self.pending: collections.deque[Any] = collections.deque()  # creates sent, unanswered
        self.waits: dict[int, Any] = {}
        self.cancels: list[int] = []  # the watches of departed waits, not cancelled yet
        self.answered = 0  # how many creates the server has answered
        self.broken = False
        self.call: Any = None

    def cancel(self, watch_id: int) -> None:
        if not self.broken:
            self._put(_cancel_request(watch_id))

    def send_cancels(self) -> None:
        """Queue the deferred cancels (of a stream still open)."""
        cancels, self.cancels = self.cancels, []
        for watch_id in cancels:
            self.cancel(watch_id)

    def end(self) -> None:
        self._put(END)

    def add(self, wait: Any, key: bytes, start: int) -> None:
        """Queue the create of ``wait``'s watch on ``key`` from ``start`` (after the cancels
        left for later), in the order the server answers creates."""
        self.send_cancels()
        self.pending.append(wait)
        self._put(
            etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=key, start_revision=start))
        )

    def forget(self, wait: Any, *, defer: bool, departed: bool | None = None) -> None:
        """The wait is over: cancel its watch once its id is known (else when "created" comes),
        after the waiter's queue read if it ended by a departure (``departed``: its own, unless
        told; one of a semaphore waiter's window ends all its waits) and ``defer``."""
        wait.done = True
        watch_id = wait.watch_id
        if watch_id is not None and self.waits.pop(watch_id, None) is not None and not self.broken:
            if (wait.gone if departed is None else departed) and defer:
                self.cancels.append(watch_id)
            else:
                self.cancel(watch_id)


class _Stream(StreamState):
    """One open Watch stream: its request queue, read by gRPC's thread, and its reader thread."""

    def __init__(self, stubs: Stubs) -> None:
        self.requests: queue.Queue[Any] = queue.Queue()
        super().__init__(stubs, self.requests.put)
        self.reader: threading.Thread | None = None

    def outgoing(self) -> Iterator[Any]:
        while (item := self.requests.get()) is not END:
            yield item


class EtcdDepartures:
    """The departure waits of one connection, multiplexed on one Watch stream."""

    def __init__(self, conn: EtcdConnection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._stream: _Stream | None = None
        self._closed = False
        self._setup_bound = _SETUP_BOUND
        self.streams_opened = 0  # for tests and benchmarks: how many streams this client opened

    def wait_gone(
        self,
        key: bytes,
        create_revision: int,
        since_revision: int,
        timeout: float | None,
        wake: threading.Event,
    ) -> bool:
        """True once the incarnation ``create_revision`` of ``key`` (present in a read at
        ``since_revision``; 0: unknown, read it now) is gone. False once ``timeout`` passed,
        ``wake`` was set by somebody else, or the stream broke. Raises coordkit errors when no
        stream or read could be made (BackendUnavailableError, ClosedError)."""
        return bool(self.wait_any_gone([(key, create_revision)], since_revision, timeout, wake))

    def wait_any_gone(
        self,
        keys: Sequence[tuple[bytes, int]],
        since_revision: int,
        timeout: float | None,
        wake: threading.Event,
    ) -> set[bytes]:
        """:meth:`wait_gone` for each ``(key, create_revision)`` at once, one watch each on the
        stream: the keys of those gone, once one is; empty as :meth:`wait_gone` is False (at
        once for no keys). With ``since_revision`` 0 the watches start from now, and once they
        are in place the keys are read (one transaction): a watch from an older revision, one
        read first, would be caught up by etcd only every 100 ms if anything was written since."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not keys:
            return set()
        waits = [(key, _Wait(create_revision, wake)) for key, create_revision in keys]
        stream = self._watch(waits, 0 if since_revision <= 0 else since_revision + 1)
        found: set[bytes] = set()  # gone when read, after the watches were in place
        try:
            for _, wait in waits:
                self._set_up(stream, wait, deadline)
            if since_revision <= 0 and not wake.is_set():
                read = self._read([key for key, _ in keys], deadline)
                for (key, create_revision), reply in zip(keys, read.responses, strict=True):
                    kvs = reply.response_range.kvs
                    if not kvs or (create_revision and kvs[0].create_revision != create_revision):
                        found.add(key)
            if not found:
                wake.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        finally:
            departed = bool(found) or any(wait.gone for _, wait in waits)
            with self._lock:
                for _, wait in waits:  # a departure's cancels go after the waiter's next read
                    stream.forget(wait, defer=True, departed=departed)
        return found | {key for key, wait in waits if wait.gone}

    # --- the stream ---------------------------------------------------------------------
    def _watch(self, waits: Sequence[tuple[bytes, _Wait]], start: int) -> _Stream:
        with self._lock:
            if self._closed:
                raise ClosedError("the etcd backend is closed")
            stream = self._stream
            if stream is None or stream.broken:
                stream = self._stream = self._open()
            for key, wait in waits:
                stream.add(wait, key, start)
        return stream

    def _open(self) -> _Stream:
        """A new stream (under the lock). gRPC opens it in the background: a failure to
        connect arrives on the reader as the stream's end."""
        try:
            stream = _Stream(self._conn.current())
            stream.call = stream.stubs.watch.Watch(stream.outgoing(), **stream.stubs.args(None))
        except grpc.RpcError as exc:  # authenticating a new channel failed
            raise translate(exc, "departure watch", self._conn.endpoints) from exc
        except ValueError as exc:  # gRPC refuses calls on a closed channel
            raise ClosedError("the etcd backend was closed under a departure watch") from exc
        stream.reader = threading.Thread(
            target=self._read_stream, args=(stream,), daemon=True, name="coordkit-etcd-departures"
        )
        stream.reader.start()
        self.streams_opened += 1
        return stream

    def _set_up(self, stream: _Stream, wait: _Wait, deadline: float | None) -> None:
        """Wait for the create's answer (bounded), unless ``wake`` is set or the deadline
        passes first. Gives the stream up (BackendUnavailableError) if it is not answered."""
        setup = self._setup_bound
        while True:
            answered = stream.answered
            bound = setup if deadline is None else min(setup, deadline - time.monotonic())
            if wait.created.wait(max(0.0, bound)) or wait.wake.is_set():
                break
            if stream.answered == answered or (deadline is not None and time.monotonic() >= deadline):
                break  # no create answered in the bound; else they come slowly (thousands queued)
        if not wait.created.is_set() and not wait.wake.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return  # the wait's own time ran out during set-up: a plain timeout
            self._setup_bound = min(setup * 2, self._conn.timeout)  # a slow server gets longer
            self._break(stream, None)  # no answer to a create: this stream is lost
            raise BackendUnavailableError(
                f"departure watch on etcd {','.join(self._conn.endpoints)}: the stream was not set up "
                f"within {setup:g}s"
            )
        if wait.watch_id is not None:
            self._setup_bound = _SETUP_BOUND

    def flush(self) -> None:
        """Send the cancels of the waits ended by their departure (the queue read that follows
        them is done). Never blocks on the network."""
        with self._lock:
            if self._stream is not None and self._stream.cancels:
                self._stream.send_cancels()

    def _read_stream(self, stream: _Stream) -> None:
        error: grpc.RpcError | None = None
        try:
            for response in stream.call:
                self._route(stream, response)
        except grpc.RpcError as exc:
            error = exc
        except ValueError:  # the channel closed under the stream
            pass
        self._break(stream, error)

    def _route(self, stream: _Stream, response: Any) -> None:
        with self._lock:
            stale = route(stream, response)
        if stale:  # the stream's token is stale: the next stream authenticates again
            stream.stubs.client.forget(stream.generation)
            self._break(stream, None)

    def _break(self, stream: _Stream, error: grpc.RpcError | None) -> None:
        """The stream ended (or is given up): wake every waiter on it and cut it."""
        with self._lock:
            stream.broken = True
            if self._stream is stream:
                self._stream = None
            waits = list(stream.waits.values()) + list(stream.pending)
            stream.waits.clear()
            stream.pending.clear()
        cut(stream, self._conn, error, waits)

    def _read(self, keys: Sequence[bytes], deadline: float | None) -> Any:
        """``keys`` read in one round trip (a transaction of reads, which is safe to repeat)."""
        request = etcdrpc.TxnRequest(
            compare=[],
            success=[etcdrpc.RequestOp(request_range=read(key, b"", keys_only=True)) for key in keys],
            failure=[],
        )
        timeout = None if deadline is None else max(0.001, deadline - time.monotonic())
        try:
            return self._conn.call(
                "read for a departure watch",
                lambda s, t: s.kv.Txn(request, **s.args(t)),
                retry_safe=True,
                timeout=timeout,
            )
        except NotFoundError as exc:  # cannot happen for a read at the current revision
            raise BackendUnavailableError(str(exc)) from exc

    def close(self) -> None:
        """Cut the stream, wake its waiters, and join its reader. Idempotent."""
        with self._lock:
            self._closed = True
            stream, self._stream = self._stream, None
        if stream is None:
            return
        self._break(stream, None)
        reader = stream.reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(5.0)


def route(stream: Any, response: Any) -> bool:
    """Apply one Watch response to a departure stream's waits: this module's ``_Stream`` under
    its lock, or :mod:`.aio_departures`' (the same fields: ``answered``, ``pending``, ``waits``,
    ``cancel``; waits with ``finish``, ``created``, ``done``, ``gone``, ``watch_id``,
    ``create_revision``). True when the server said the stream's auth token is stale."""
    if response.created:
        stream.answered += 1
        wait = stream.pending.popleft() if stream.pending else None
        if wait is None:
            return False  # cannot happen: etcd answers the creates we sent
        if response.canceled or response.watch_id < 0:  # the create was refused
            wait.finish()
            return is_stale_reason(response.cancel_reason or "")
        if wait.done:  # its waiter left before the answer: cancel at once
            stream.cancel(response.watch_id)
        else:
            wait.watch_id = response.watch_id
            stream.waits[response.watch_id] = wait
            wait.created.set()
    elif (wait := stream.waits.get(response.watch_id)) is None:
        pass  # cancelled by its waiter meanwhile
    elif response.compact_revision or response.canceled:
        # The start revision is compacted (or the server dropped the watch): the waiter
        # re-reads the queue, which gives it a revision to start from again.
        stream.waits.pop(response.watch_id, None)
        if response.compact_revision:  # said canceled, the server keeps it until cancelled
            stream.cancel(response.watch_id)
        wait.finish()
        return is_stale_reason(response.cancel_reason or "")
    elif not wait.gone:
        for event in response.events:
            if event.type == _DELETE or (
                wait.create_revision and event.kv.create_revision != wait.create_revision
            ):
                wait.finish(gone=True)
                break
    return False


def cut(stream: Any, conn: EtcdConnection, error: grpc.RpcError | None, waits: list[Any]) -> None:
    """The end of a departure stream (of either module), once it is marked broken and its
    waits taken: the connection told of a stale token or a link down, every waiter woken, our
    half of the stream ended and the call cancelled."""
    if error is not None and not conn.closed:
        if is_stale_token(error):
            stream.stubs.client.forget(stream.generation)
        if error.code() in _LINK_DOWN:
            conn.failover(stream.stubs)
    for wait in waits:
        wait.finish()
    stream.end()
    with contextlib.suppress(Exception):
        stream.call.cancel()


def _cancel_request(watch_id: int) -> Any:
    return etcdrpc.WatchRequest(cancel_request=etcdrpc.WatchCancelRequest(watch_id=watch_id))
