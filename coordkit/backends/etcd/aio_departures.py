"""Departure waits of one asyncio client on etcd, on ONE Watch stream of its loop: the asyncio
twin of :mod:`.departures`, over the ``grpc.aio`` channel of :mod:`.aio`.

Every coroutine waiting for a contender to leave adds a watch on that one key to the stream
(opened on first use), starting at the revision at which it read the queue plus one, so a
departure after that read is delivered and no read is needed; it is cancelled by watch id
when the wait ends. One reader task routes each response by watch id and sets the waiter's
``wake``. Ten thousand waiters are ten thousand watches on one HTTP/2 stream, not ten
thousand streams. Requests go out through one queue that grpc.aio consumes (creates are
answered in the order sent, which is how a "created" response is matched to its wait, as in
:mod:`.departures`), so that queueing one never awaits: a wait cancelled with its task
leaves nothing half-sent. A wait ended by its departure leaves its cancel for after the
waiter's queue read (:meth:`AsyncDepartures.flush`) or the next wait's create.

What holds on failure, as in :mod:`.departures`: a broken stream (restart, failover, cut
link) or one whose create is not answered within the set-up bound wakes every waiter on it,
whose wait returns False (it reads the queue again), and the next wait opens a new stream; a
compacted start revision or a refused create ends that wait the same way; a stale auth token
is forgotten and the stream broken; :meth:`AsyncDepartures.aclose` wakes every waiter,
cancels the stream and waits for its tasks to end. A waiting task that is cancelled forgets
its wait at once (its watch is cancelled, or will be as soon as its create is answered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from ...errors import BackendUnavailableError, ClosedError
from .conn import EtcdConnection, translate
from .departures import _SETUP_BOUND, END, StreamState, cut, route

__all__ = ["AsyncDepartures"]

log = logging.getLogger(__name__)


class _Wait:
    """One departure wait: ``created`` once the server answered its create (or the wait
    ended); :meth:`finish` ends it and sets the waiter's ``wake``."""

    __slots__ = ("create_revision", "created", "done", "gone", "wake", "watch_id")

    def __init__(self, create_revision: int, wake: asyncio.Event) -> None:
        self.create_revision, self.wake = create_revision, wake
        self.created = asyncio.Event()
        self.done = self.gone = False
        self.watch_id: int | None = None

    def finish(self, *, gone: bool = False) -> None:
        self.gone = self.gone or gone
        self.created.set()
        self.wake.set()


class _Stream(StreamState):
    """One open Watch stream of the loop: its request queue, which grpc.aio consumes, and its
    reader task."""

    def __init__(self, stubs: Any) -> None:
        self.requests: asyncio.Queue[Any] = asyncio.Queue()
        super().__init__(stubs, self.requests.put_nowait)
        self.reader: asyncio.Task[None] | None = None

    async def outgoing(self) -> AsyncIterator[Any]:
        while (item := await self.requests.get()) is not END:
            yield item


class AsyncDepartures:
    """The departure waits of one asyncio client's loop, multiplexed on one Watch stream.
    ``watch_stub(index)``: the Watch stub over the loop's channel to endpoint ``index``."""

    def __init__(self, conn: EtcdConnection, watch_stub: Any) -> None:
        self._conn, self._watch_stub = conn, watch_stub
        self._stream: _Stream | None = None
        self._streams: set[_Stream] = set()  # those whose call or reader has not ended yet
        self._closed = False
        self._setup_bound = _SETUP_BOUND
        self.streams_opened = 0  # for tests and benchmarks

    async def wait_gone(
        self, key: bytes, create_revision: int, since_revision: int, wake: asyncio.Event
    ) -> bool:
        """True once the incarnation ``create_revision`` of ``key``, present in a queue read at
        ``since_revision`` (> 0), is gone; False once ``wake`` was set by somebody else or the
        stream broke. Raises BackendUnavailableError if the stream could not be set up,
        ClosedError once closed. No deadline of its own: bound it with ``asyncio.timeout()``."""
        wait = _Wait(create_revision, wake)
        stream = self._watch(key, since_revision + 1, wait)
        returned = False
        try:
            await self._await(stream, wait)
            returned = True
        finally:  # a departed wait's cancel waits for the queue read that follows a return
            self._cancel(stream, wait, defer=returned)
        return wait.gone

    def flush(self) -> None:
        """Send the cancels of the waits ended by their departure (their queue read is done)."""
        if self._stream is not None and self._stream.cancels:
            self._stream.send_cancels()

    async def aclose(self) -> None:
        """Wake every waiter, refuse new waits, cancel each stream, and wait for its reader
        task and for gRPC's own handling of the call's end (the task that runs its done
        callbacks), so that the loop is left no task pending. Before the channels close."""
        self._closed = True
        for stream in list(self._streams):
            ended = asyncio.get_running_loop().create_future()
            stream.call.add_done_callback(lambda _, ended=ended: ended.done() or ended.set_result(None))
            self._break(stream, None)  # cancels the call unless it was already
            waiting = {ended} if stream.reader is None else {ended, stream.reader}
            await asyncio.wait(waiting, timeout=self._conn.timeout)  # raises only if aclose is cancelled
            self._streams.discard(stream)

    # --- the stream ---------------------------------------------------------------------
    def _watch(self, key: bytes, start: int, wait: _Wait) -> _Stream:
        if self._closed:
            raise ClosedError("the asyncio client is closed")
        stream = self._stream
        if stream is None or stream.broken:
            stream = self._stream = self._open()
        stream.add(wait, key, start)
        return stream

    def _open(self) -> _Stream:
        try:
            stubs = self._conn.current()
            metadata = stubs.args(None)["metadata"]  # may authenticate (a forgotten token)
            stream = _Stream(stubs)
            stream.call = self._watch_stub(stubs.index).Watch(stream.outgoing(), metadata=metadata)
        except grpc.RpcError as exc:  # authenticating failed
            raise translate(exc, "departure watch", self._conn.endpoints) from exc
        except ValueError as exc:  # gRPC refuses calls on a closed channel
            raise ClosedError("the asyncio client was closed under a departure watch") from exc
        stream.reader = asyncio.get_running_loop().create_task(self._read_stream(stream))
        self._streams.add(stream)
        reader, call = stream.reader, stream.call

        def forget_if_ended(_: object) -> None:
            if reader.done() and call.done():
                self._streams.discard(stream)

        reader.add_done_callback(forget_if_ended)
        call.add_done_callback(forget_if_ended)
        self.streams_opened += 1
        return stream

    async def _await(self, stream: _Stream, wait: _Wait) -> None:
        """Wait for the create's answer (bounded) or a wake, then for the wake. Gives the
        stream up (BackendUnavailableError) if the create is not answered in time."""
        setup = self._setup_bound
        waiting = [asyncio.ensure_future(wait.created.wait()), asyncio.ensure_future(wait.wake.wait())]
        try:
            while True:
                answered = stream.answered
                await asyncio.wait(waiting, timeout=setup, return_when=asyncio.FIRST_COMPLETED)
                if wait.created.is_set() or wait.wake.is_set() or stream.answered == answered:
                    break  # else creates are answered, only slowly (thousands queued): wait on
        finally:
            for task in waiting:
                task.cancel()
        if not wait.created.is_set() and not wait.wake.is_set():
            self._setup_bound = min(setup * 2, self._conn.timeout)  # a slow server gets longer
            self._break(stream, None)
            raise BackendUnavailableError(
                f"departure watch on etcd {','.join(self._conn.endpoints)}: the stream was not set up "
                f"within {setup:g}s"
            )
        if wait.watch_id is not None:
            self._setup_bound = _SETUP_BOUND
        await wait.wake.wait()

    def _cancel(self, stream: _Stream, wait: _Wait, *, defer: bool) -> None:
        """Forget the wait; cancel its watch once its id is known (else when "created" comes),
        after the waiter's queue read if it ended by its departure (``defer``: it returned)."""
        stream.forget(wait, defer=defer)

    async def _read_stream(self, stream: _Stream) -> None:
        error: grpc.RpcError | None = None
        try:
            async for response in stream.call:
                self._route(stream, response)
        except grpc.RpcError as exc:
            error = exc
        except Exception:  # a bug here must not leave the waiters asleep
            log.exception("coordkit: the etcd departure stream's reader failed")
        finally:
            self._break(stream, error)

    def _route(self, stream: _Stream, response: Any) -> None:
        if route(stream, response):  # the stream's token is stale: the next one authenticates again
            stream.stubs.client.forget(stream.generation)
            self._break(stream, None)

    def _break(self, stream: _Stream, error: grpc.RpcError | None) -> None:
        """The stream ended (or is given up): wake every waiter on it and cut it."""
        if stream.broken:
            return
        stream.broken = True
        if self._stream is stream:
            self._stream = None
        waits = list(stream.waits.values()) + list(stream.pending)
        stream.waits.clear()
        stream.pending.clear()
        cut(stream, self._conn, error, waits)
