"""The etcd backend's async reads on gRPC futures of the same stubs and channel as the sync calls.

Why the sync stubs' ``.future()`` and not ``grpc.aio``: a ``grpc.aio`` channel belongs to the
event loop it was made in (grpc issues #32480, #40748) and would be a second connection per
endpoint with its own TLS, auth token and failover to keep in step; a unary call's
``.future()`` is sent at once on the channel the backend already has (same credentials, same
token, same failover in :class:`~.conn.EtcdConnection`), completes on gRPC's completion
thread, and is handed to the loop with ``call_soon_threadsafe``. A thousand concurrent reads
are then a thousand requests in flight on one HTTP/2 connection, holding no thread each.
Transactions and departure waits use the defaults of :class:`~coordkit.backends.aio.AsyncOps`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from ...errors import ClosedError, OperationTimeoutError
from ..async_ops import AsyncOps, settle
from ..base import Backend, Entry
from . import ops as ops_
from .auth import is_stale_token
from .backend import EtcdBackend
from .conn import translate

__all__ = ["EtcdAsyncOps", "is_etcd"]

_LINK_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def is_etcd(backend: Backend) -> bool:
    return isinstance(backend, EtcdBackend)


class EtcdAsyncOps(AsyncOps):
    """Range reads as gRPC futures; errors translated by the backend's one table."""

    backend: EtcdBackend

    async def _range(self, what: str, request: Any, timeout: float | None) -> Any:
        """One Range within the operation timeout (or ``timeout`` if shorter): on UNAVAILABLE
        the next endpoint is tried within the same deadline (a read is safe to repeat), a
        stale auth token is renewed once, as :meth:`EtcdConnection.call` does."""
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
                return await self._call(stubs.kv.Range.future(request, **stubs.args(remaining)))
            except grpc.RpcError as exc:
                if conn.closed:
                    raise ClosedError(f"the etcd backend was closed during {what}") from exc
                if not renewed and is_stale_token(exc):
                    renewed = True
                    stubs.client.forget(generation)
                    continue
                attempt += 1
                if exc.code() in _LINK_DOWN:
                    conn.failover(stubs)
                if exc.code() is grpc.StatusCode.UNAVAILABLE and attempt < len(conn.endpoints):
                    continue
                raise translate(exc, what, conn.endpoints) from exc

    async def _call(self, call: Any) -> Any:
        """Await a gRPC future; cancelling the awaiter cancels the call."""
        future: asyncio.Future[Any] = self.loop.create_future()
        call.add_done_callback(lambda done: settle(self.loop, future, done.result))
        try:
            return await future
        except asyncio.CancelledError:
            call.cancel()
            raise

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
