"""The etcd backend's async calls: the same etcd stubs over a ``grpc.aio`` channel of the loop.

Why ``grpc.aio`` and not the sync stubs' ``.future()``: a future on a sync channel completes
on a polling thread that gRPC starts for the channel whenever a call is in flight and ends
when none is, so one call at a time costs a thread start each (measured: about 0.4 ms, a
third of a lock cycle), and every answer crosses two threads to reach the loop. A
``grpc.aio`` channel is polled by the event loop itself. It belongs to that loop (grpc issues
#32480, #40748), which is the client's rule anyway, and is closed by :meth:`aclose`. It
reaches the same endpoint as the sync channel (:class:`~.conn.EtcdConnection` picks it and
fails over) with the same TLS, the same auth token (as metadata) and the same options.

A thousand concurrent reads are then a thousand requests in flight on one HTTP/2
connection, holding no thread each. The contender queue's join, listing and leave are the
sync backend's requests (:mod:`.queue`, the layout of ``etcdctl lock``) sent the same way, and
its departure waits share one Watch stream of the loop (:mod:`.aio_departures`), starting at
the revision of the queue read; the rare replacement of a contender left behind and other
writes use the defaults of :class:`~coordkit.backends.async_ops.AsyncOps`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio

from ...errors import ClosedError, OperationTimeoutError, SessionLostError
from ..async_ops import AsyncOps
from ..base import Backend, Check, Entry
from ..contender_queue import Contender, QueueView
from . import ops as ops_
from .aio_departures import AsyncDepartures
from .auth import _read, _system_roots, is_stale_token
from .backend import EtcdBackend
from .conn import _CHANNEL_OPTIONS, _never_sent, etcdrpc, translate

__all__ = ["EtcdAsyncOps", "is_etcd"]

_LINK_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _cancelled_by_caller() -> bool:
    """Whether the running task is being cancelled (Python 3.11+ can tell; before, assume so)."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return cancelling is None or cancelling() > 0


def is_etcd(backend: Backend) -> bool:
    return isinstance(backend, EtcdBackend)


class EtcdAsyncOps(AsyncOps):
    """Range reads as gRPC futures; errors translated by the backend's one table."""

    backend: EtcdBackend

    def __init__(self, backend: Backend, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(backend, loop)
        self._channels: list[grpc.aio.Channel] = []
        self._stubs: dict[int, Any] = {}
        self._watch_stubs: dict[int, Any] = {}
        self._departures = AsyncDepartures(self.backend._conn, self._watch_stub)
        self._closing = False  # set before the channels close: their calls in flight are cancelled

    async def _range(self, what: str, request: Any, timeout: float | None) -> Any:
        return await self._unary(what, lambda kv: kv.Range, request, timeout, retry_safe=True)

    async def _txn(self, what: str, request: Any, timeout: float | None) -> Any:
        # Not retry_safe: a transaction cut off mid-flight may have been applied.
        return await self._unary(what, lambda kv: kv.Txn, request, timeout, retry_safe=False)

    async def _unary(
        self, what: str, method: Any, request: Any, timeout: float | None, *, retry_safe: bool
    ) -> Any:
        """One unary call within the operation timeout (or ``timeout`` if shorter), by the rules
        of :meth:`EtcdConnection.call`: on UNAVAILABLE the next endpoint is tried within the same
        deadline when the call is safe to repeat or was never sent, and a stale auth token is
        renewed once."""
        if self._closed:
            raise ClosedError("the asyncio client is closed")
        conn = self.backend._conn
        limit = conn.timeout if timeout is None else min(conn.timeout, timeout)
        deadline = self.loop.time() + limit
        renewed, attempt = False, 0
        while True:
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise OperationTimeoutError(f"{what} on etcd {','.join(conn.endpoints)}: no time left")
            stubs = conn.current()
            generation = stubs.client.authentications
            try:
                call = method(self._kv(stubs.index))
                return await call(request, timeout=remaining, metadata=stubs.args(remaining)["metadata"])
            except asyncio.CancelledError:
                # Closing the channel cancels its calls in flight: that is no cancellation of the
                # caller, who gets ClosedError as with a call made after the close.
                if self._closing and not _cancelled_by_caller():
                    raise ClosedError(f"the etcd backend was closed during {what}") from None
                raise
            except grpc.RpcError as exc:
                if conn.closed:
                    raise ClosedError(f"the etcd backend was closed during {what}") from exc
                if not renewed and is_stale_token(exc):
                    renewed = True  # refused before being applied: once more with a new token
                    stubs.client.forget(generation)
                    continue
                attempt += 1
                if exc.code() in _LINK_DOWN:
                    conn.failover(stubs)
                if (
                    exc.code() is grpc.StatusCode.UNAVAILABLE
                    and attempt < len(conn.endpoints)
                    and (retry_safe or _never_sent(exc))
                ):
                    continue
                raise translate(exc, what, conn.endpoints) from exc

    def _kv(self, index: int) -> Any:
        """The KV stub over this loop's channel to endpoint ``index`` (made on first use)."""
        stub = self._stubs.get(index)
        if stub is None:
            conn = self.backend._conn
            host, port = conn._addresses[index]
            target, tls = f"{host}:{port}", conn.security.tls
            if tls is None:
                channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
            else:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=_read("ca", tls.ca) if tls.ca else _system_roots(),
                    private_key=_read("key", tls.key) if tls.key else None,
                    certificate_chain=_read("cert", tls.cert) if tls.cert else None,
                )
                channel = grpc.aio.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
            self._channels.append(channel)
            self._watch_stubs[index] = etcdrpc.WatchStub(channel)
            stub = self._stubs[index] = etcdrpc.KVStub(channel)
        return stub

    async def aclose(self) -> None:
        """Close this loop's channels (cancelling calls in flight), then the call pool."""
        self._closing = True
        try:
            await self._departures.aclose()
        finally:
            channels, self._channels, self._stubs = self._channels, [], {}
            for channel in channels:
                await channel.close()
            await super().aclose()

    async def get(self, key: str, timeout: float | None = None) -> Entry | None:
        reply = await self._range(f"get {key}", ops_.read(self.backend._key(key)), timeout)
        return self.backend._entry(reply.kvs[0]) if reply.kvs else None

    async def children(self, path: str, timeout: float | None = None) -> list[str]:
        prefix, start, end = self.backend._below(path)
        reply = await self._range(f"children of {path}", ops_.read(start, end, keys_only=True), timeout)
        found: set[str] = set()
        for kv in reply.kvs:  # the next segment of every key below, as the sync call does
            rest = kv.key[len(prefix) :].decode("utf-8", "surrogateescape")
            segment = (rest.lstrip("/") if not prefix else rest).split("/", 1)[0]
            if segment:
                found.add(segment)
        return sorted(found)

    async def tree(self, path: str) -> tuple[list[Entry], int]:
        _, start, end = self.backend._below(path)
        reply = await self._range(f"tree of {path}", ops_.read(start, end), None)
        return [self.backend._entry(kv) for kv in reply.kvs], reply.header.revision

    # --- the contender queue: the transactions of .queue, sent as futures -------------------
    async def queue_join(
        self, path: str, value: bytes, *, unique: bool, attempt: str, timeout: float | None
    ) -> QueueView:
        """The one transaction of :meth:`EtcdContenderQueues.queue_join` (create
        ``<path>/<lease hex>`` unless there, list the queue by create revision). A contender
        this session left behind is replaced by the sync call, as it is there."""
        backend = self.backend
        request, key, name, prefix = backend._join_request(
            path, value, backend._current_lease(), unique, attempt
        )
        with backend._lock:  # the sync backend's record of which attempt made each key
            previous = backend._attempts.pop(key, None)
            backend._attempts[key] = attempt
            while len(backend._attempts) > 1024:
                backend._attempts.pop(next(iter(backend._attempts)))
        reply = await self._txn(f"join the queue {path}", request, timeout)
        contenders = backend._contenders(path, reply.responses[-1].response_range.kvs, prefix)
        mine = next((c for c in contenders if c.key == name), None)
        if mine is None:
            raise SessionLostError(f"the contender {name} vanished as it was created")
        if not reply.succeeded and previous != attempt:
            with backend._lock:  # let the sync call see this attempt as new, and replace the key
                backend._attempts[key] = previous or ""
            return await super().queue_join(path, value, unique=unique, attempt=attempt, timeout=timeout)
        return QueueView(mine, contenders, reply.header.revision)

    async def queue_leave(self, mine: Contender, timeout: float | None = None) -> None:
        """Delete our contender if it is still that incarnation (one transaction; idempotent)."""
        key = self.backend._key(mine.key)
        compare = ops_.conditions(Check(mine.key, create_revision=mine.create_revision or None), key)
        request = etcdrpc.TxnRequest(compare=compare, success=[ops_.remove(key)], failure=[])
        await self._txn(f"leave the queue at {mine.key}", request, timeout)

    async def wait_gone(
        self, key: str, create_revision: int, wake: asyncio.Event, since_revision: int = 0
    ) -> bool:
        """A watch on the one key, from ``since_revision + 1`` (0: after one read), on this
        loop's one departure stream (:mod:`.aio_departures`)."""
        name = self.backend._key(key)
        if since_revision <= 0:  # not known: read it
            found = await self._range(
                f"read {key} for a departure watch", ops_.read(name, keys_only=True), None
            )
            kv = found.kvs[0] if found.kvs else None
            if kv is None or (create_revision and kv.create_revision != create_revision):
                return True
            since_revision = found.header.revision
        return await self._departures.wait_gone(name, create_revision, since_revision, wake)

    async def queue_list(self, path: str, *, values: bool = False) -> tuple[list[Contender], int]:
        """One range read by create revision on this loop's channel (keys only unless ``values``)."""
        _, start, end = self.backend._below(path)
        try:
            reply = await self._range(
                f"list the queue {path}", ops_.read_by_creation(start, end, keys_only=not values), None
            )
            return self.backend._contenders(path, reply.kvs), reply.header.revision
        finally:
            self._departures.flush()  # the cancels a departure's wait left for after this read

    def _watch_stub(self, index: int) -> Any:
        self._kv(index)  # makes the channel and its watch stub
        return self._watch_stubs[index]
