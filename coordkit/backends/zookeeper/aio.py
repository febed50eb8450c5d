"""The ZooKeeper backend's async calls on kazoo's own asynchronous requests.

A read, an ``exists`` or a delete is kazoo's own request object, queued with
``KazooClient._call`` (what every ``*_async`` method does) together with an answer object
of ours: kazoo's reader thread calls its ``set``/``set_exception`` as the reply is read, and
it hands the reply to the loop with ``call_soon_threadsafe`` (one hop, not the two of a
kazoo result's ``rawlink``, which runs on kazoo's completion thread). So a thousand
concurrent reads are pipelined on the one session and hold no thread. A contender's
departure is one ``exists`` watch, the same watcher as the sync queue's (:mod:`.wait_gone`),
whose wake-up is bridged to the loop: a waiting coroutine costs a watch, not a thread.
Leaving a queue is one delete. Joining one sends its first try the same way (the create and
the children read pipelined, on the sync join's :class:`.queue.QueueJoin`); what that try
cannot finish (a missing queue node, a lost or refused reply, a retry, adoption) is the sync
join on the default call pool of :class:`~coordkit.backends.aio.AsyncOps`, as are the other
writes (implicit parents, multis).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.serialization import Create2, Delete, GetChildren, GetChildren2, GetData
from kazoo.security import OPEN_ACL_UNSAFE

from ...core.async_deadline import timeout_in
from ...errors import OperationTimeoutError
from ..async_ops import AsyncOps
from ..base import Backend, Entry
from ..contender_queue import Contender, QueueView
from .backend import ZooKeeperBackend
from .queue import relative_view
from .read import child_path, is_parent, to_entry, visible
from .wait_gone import Departure

__all__ = ["ZooKeeperAsyncOps", "is_zookeeper"]

T = TypeVar("T")

_EPHEMERAL_SEQUENTIAL = 3  # kazoo's create flags: ephemeral (1) and sequence (2)


def is_zookeeper(backend: Backend) -> bool:
    return isinstance(backend, ZooKeeperBackend)


class _LoopWake(threading.Event):
    """A ``threading.Event`` for the sync watcher whose ``set()`` also wakes a loop's event."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        super().__init__()
        self._loop, self._wake = loop, wake

    def set(self) -> None:
        super().set()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._wake.set)


def _stat_or_none(result: Any) -> Any:
    """The stat of a ``getData`` answer; None: no node."""
    try:
        return result.get_nowait()[1]
    except NoNodeError:
        return None


class _Outcome:
    """A reply as the ``read`` functions take it: ``get_nowait()`` returns it or raises."""

    __slots__ = ("_error", "_value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self._value, self._error = value, error

    def get_nowait(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class _Answer:
    """What kazoo's connection calls on a request's answer object (``set``,
    ``set_exception``), on its reader thread: only schedules ``answered`` on the loop."""

    __slots__ = ("_answered", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, answered: Callable[[_Outcome], None]) -> None:
        self._loop, self._answered = loop, answered

    def set(self, value: Any = None) -> None:
        self._deliver(_Outcome(value, None))

    def set_exception(self, exception: BaseException) -> None:
        self._deliver(_Outcome(None, exception))

    def _deliver(self, outcome: _Outcome) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._answered, outcome)


class ZooKeeperAsyncOps(AsyncOps):
    """Reads and departure waits without a thread; errors translated by the backend's table."""

    backend: ZooKeeperBackend

    async def _request(
        self, key: str, send: Callable[[KazooClient], Any], read: Callable[[Any], T], timeout: float | None
    ) -> T:
        """One kazoo request, its answer read by ``read`` (kazoo's errors translated by the
        backend's table), within the operation timeout (or ``timeout`` if shorter). A dropped
        link raises BackendUnavailableError: the client's retry policy repeats reads."""
        backend = self.backend
        limit = backend._op_timeout if timeout is None else min(backend._op_timeout, timeout)
        client = backend._usable()
        future: asyncio.Future[T] = self.loop.create_future()

        def answered(outcome: _Outcome) -> None:  # on the loop
            if future.done():  # the awaiter was cancelled (or kazoo failed the request twice)
                return
            try:
                with backend._errors(key, timeout=limit):
                    value = read(outcome)
            except BaseException as exc:  # noqa: BLE001 - handed over to the awaiter
                future.set_exception(exc)
            else:
                future.set_result(value)

        with backend._errors(key, timeout=limit):
            client._call(send(client), _Answer(self.loop, answered))
        try:
            async with timeout_in(limit):
                return await future
        except TimeoutError:
            raise OperationTimeoutError(
                f"ZooKeeper did not answer about {key or '/'} within {limit:g}s"
            ) from None

    async def get(self, key: str, timeout: float | None = None) -> Entry | None:
        path = self.backend._keys.to_key(key)

        def read(result: Any) -> Entry | None:
            try:
                data, stat = result.get_nowait()
            except NoNodeError:
                return None
            return None if is_parent(data) else to_entry(path, data, stat)

        return await self._request(key, lambda c: GetData(_prefix_root(c.chroot, path), None), read, timeout)

    async def children(self, path: str, timeout: float | None = None) -> list[str]:
        node = self.backend._keys.to_key(path)
        chrooted = bool(self.backend._namespace)

        def read(result: Any) -> list[str]:
            try:
                return visible(node, result.get_nowait(), chrooted=chrooted)
            except NoNodeError:
                return []

        return await self._request(
            path, lambda c: GetChildren(_prefix_root(c.chroot, node), None), read, timeout
        )

    async def wait_gone(
        self, key: str, create_revision: int, wake: asyncio.Event, since_revision: int = 0
    ) -> bool:
        node = self.backend._keys.to_key(key)
        client = self.backend._usable()
        departure = Departure(client, node, _LoopWake(self.loop, wake))
        try:  # a getData, not an exists, arms it: see .wait_gone (no watch left on a node gone)
            stat = await self._request(
                key, lambda c: GetData(_prefix_root(c.chroot, node), departure), _stat_or_none, None
            )
            if stat is None or (create_revision and stat.czxid != create_revision):
                return True
            await wake.wait()
            return departure.gone.is_set()
        finally:
            departure.finish()  # a leftover watch dies out when it fires

    async def queue_join(
        self, path: str, value: bytes, *, unique: bool, attempt: str, timeout: float | None
    ) -> QueueView:
        """The sync join's first try sent from the loop: the create and the children read
        pipelined, each reply handed to the loop by kazoo's reader thread (no call-pool thread,
        no completion thread). Anything else (a repeat of ``attempt``, this session's node here
        to adopt, a missing parent, a refused, cut or failed request) is the sync join on the
        call pool, which finds a node this try made and raises what the sync call raises."""
        backend = self.backend
        join = backend.fresh_join(path, value, unique=unique, attempt=attempt)
        client = backend.connected_client() if join is not None else None
        if join is not None and client is not None:
            limit = backend._op_timeout if timeout is None else min(backend._op_timeout, timeout)
            started = self.loop.time()
            node = _prefix_root(client.chroot, child_path(join.parent, join.prefix), trailing=True)
            join.sent = True  # a later attempt must look for the node first
            acl = client.default_acl or OPEN_ACL_UNSAFE  # what create_async sends
            created = self._sent(client, Create2(node, join.value, acl, _EPHEMERAL_SEQUENTIAL))
            listed = self._sent(client, GetChildren2(_prefix_root(client.chroot, join.parent), None))
            try:
                async with timeout_in(limit):
                    made, names = (await created).get_nowait(), (await listed).get_nowait()
            except TimeoutError:
                raise _unanswered(path, limit) from None
            except KazooException:  # the sync join below tells what happened, in the time left
                timeout = limit - (self.loop.time() - started)
                if timeout <= 0:
                    raise _unanswered(path, limit) from None
            else:
                return relative_view(join.answered((client.unchroot(made[0]), made[1]), names))
        return await super().queue_join(path, value, unique=unique, attempt=attempt, timeout=timeout)

    def _sent(self, client: KazooClient, request: Any) -> asyncio.Future[_Outcome]:
        """``request`` queued on kazoo's connection; the future takes its reply on the loop."""
        future: asyncio.Future[_Outcome] = self.loop.create_future()

        def answered(outcome: _Outcome) -> None:  # on the loop
            if not future.done():  # else kazoo failed the request twice
                future.set_result(outcome)

        client._call(request, _Answer(self.loop, answered))
        return future

    async def queue_leave(self, mine: Contender, timeout: float | None = None) -> None:
        """Delete our node (gone already is fine), as :meth:`ContenderQueues.queue_leave`: one
        ``delete_async``, and the session's record of its node here forgotten."""
        backend = self.backend
        node = backend._keys.to_key(mine.key)

        def read(result: Any) -> None:
            with contextlib.suppress(NoNodeError):
                result.get_nowait()

        await self._request(mine.key, lambda c: Delete(_prefix_root(c.chroot, node), -1), read, timeout)
        backend.forget_left(node)


def _unanswered(path: str, limit: float) -> OperationTimeoutError:
    return OperationTimeoutError(f"ZooKeeper did not answer the join of {path} within {limit:g}s")
