"""The live instances of a service for asyncio code: ``cache = await client.discover(name)``.

The sync cache's guarantees (:mod:`coordkit.discovery.cache`) without a thread or a watch
of its own: every cache of a client follows one shared watch of the registry
(:mod:`coordkit.aio.registry_feed`), and a task of the client per cache applies its events.
The cache subscribes first, then reads its service once: on etcd and memory the read is at
revision R and only the events above R are applied after it (exact); on ZooKeeper (no
revisions to reconcile with) every event since the subscription is applied after the read,
in store order, so the cache converges on the store's state. Each change is applied in
O(log n) (:mod:`coordkit.discovery._sorted_instances`, shared with the sync cache) and read as
one new sorted tuple, built at most once per change by its first reader (readers never see
half a change); listeners run on the loop (a coroutine
listener is run as a task of the client), and ``async for instances in cache.changes()``
follows the same tuples. Values are decoded by the
registry's formats, so the cache reads what sync and Curator/etcd clients register.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from ..backends.base import Entry, WatchEvent
from ..core.async_deadline import timeout_in
from ..core.states import SessionState
from ..discovery._checks import (
    DEFAULT_BASE,
    check_base,
    check_service,
    check_statuses,
    service_path,
    split_key,
)
from ..discovery._sorted_instances import SortedInstances
from ..discovery.formats import format_for
from ..discovery.instance import UP, ServiceInstance
from ..discovery.reads import decode_entry
from .registry_feed import feed_for

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["AsyncServiceCache"]

log = logging.getLogger("coordkit.aio")
Listener = Callable[[tuple[ServiceInstance, ...]], "Awaitable[Any] | None"]
_END = object()


class AsyncServiceCache:
    """The live instances of service ``name``, in memory (see the module docstring).

    Made by ``await client.discover(name)``, which returns once the initial read is done.
    Raises ConfigurationError for a bad name, BackendUnavailableError if the store cannot be
    reached within the client's timeout (then nothing keeps running). While the session is
    SUSPENDED or LOST, :attr:`stale` is True and the last instances known are served. An
    :class:`~coordkit.balancing.source.InstanceSource`, so a Balancer can follow it.
    """

    def __init__(
        self,
        client: AsyncStore,
        name: str,
        *,
        base: str = DEFAULT_BASE,
        statuses: Collection[str] | None = (UP,),
    ) -> None:
        self._name = check_service(name)
        self._path = service_path(check_base(base), self._name)
        self._client = client
        self._format = format_for(client.sync.backend.capabilities.layout)
        self._held = SortedInstances(check_statuses(statuses))  # changed and read on the loop
        self._listeners: list[Listener] = []
        self._followers: set[asyncio.Queue[object]] = set()  # one per changes() iterator
        self._changed = asyncio.Event()  # set and replaced at each change
        self._closed = False
        self._feed = feed_for(client, check_base(base))
        self._events: asyncio.Queue[WatchEvent] = asyncio.Queue()  # from the feed, for _follow
        self._subscribed = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        count = len(self._held)
        return f"<coordkit.aio.AsyncServiceCache {self._path} instances={count} stale={self.stale}>"

    # --- reading ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        """The watched path in the store, e.g. ``/services/payment``."""
        return self._path

    @property
    def instances(self) -> tuple[ServiceInstance, ...]:
        """The live instances, sorted by id (no network call; the first read after a change
        copies the sorted list once)."""
        return self._held.snapshot()

    @property
    def stale(self) -> bool:
        """True while the session is not CONNECTED, or once closed: the last state known.
        Read from the session itself, so that it agrees with :attr:`AsyncClient.state` at any
        time, before the session's event has reached the loop too."""
        return self._closed or self._client.state is not SessionState.CONNECTED

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator[ServiceInstance]:
        return iter(self.instances)

    async def wait_for(
        self, predicate: Callable[[tuple[ServiceInstance, ...]], bool], timeout: float | None = None
    ) -> bool:
        """Wait (holding no thread) until ``predicate(instances)`` holds; False if ``timeout``
        passed or the cache closed first."""
        try:
            async with timeout_in(timeout):
                while not predicate(self.instances):
                    if self._closed:
                        return False
                    await self._changed.wait()
        except TimeoutError:
            return predicate(self.instances)
        return True

    async def changes(self) -> AsyncIterator[tuple[ServiceInstance, ...]]:
        """``async for instances in cache.changes()``: each new tuple after a change, in order,
        until the cache closes."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._followers.add(queue)
        try:
            while not self._closed:
                item = await queue.get()
                if item is _END:
                    return
                assert isinstance(item, tuple)
                yield item
        finally:
            self._followers.discard(queue)

    # --- listeners -------------------------------------------------------------------------
    def add_listener(self, callback: Listener) -> None:
        """Call ``callback(instances)`` after each change, on the loop, in order. A coroutine
        function's coroutine runs as a task of the client; a callback that raises is logged."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # --- lifetime --------------------------------------------------------------------------
    async def _start(self) -> AsyncServiceCache:
        client = self._client
        try:
            await self._feed.subscribe(self._offer)  # in place: every later change is queued
            self._subscribed = True
            path = self._path
            entries, revision = await client._call(lambda: client._ops.tree(path), idempotent=True)
            for entry in entries:
                self._apply(entry.key, entry)
            self._publish()
            exact = client.sync.backend.capabilities.atomic_subtree_reads
            self._task = client._spawn(self._follow(revision if exact else 0))
        except BaseException:
            self.close()
            raise
        return self

    def _offer(self, event: WatchEvent) -> None:
        if split_key(self._path, event.key) is not None:  # this service's instances only
            self._events.put_nowait(event)

    async def _follow(self, revision: int) -> None:
        caught_up = False
        while True:
            event = await self._events.get()
            if not caught_up and 0 < event.revision <= revision:
                continue  # already in the initial read
            caught_up = True
            if self._apply(event.key, event.entry):
                self._publish()

    def close(self) -> None:
        """Stop the watch, its task and the listeners; :attr:`instances` keeps its last value.
        Idempotent; ``await cache.aclose()`` also waits for the task's end."""
        if self._closed:
            return
        self._closed = True
        if self._subscribed:
            self._feed.unsubscribe(self._offer)
        if self._task is not None:
            self._task.cancel()
        for queue in self._followers:
            queue.put_nowait(_END)
        self._wake()

    async def aclose(self) -> None:
        self.close()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def __aenter__(self) -> AsyncServiceCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- changes ---------------------------------------------------------------------------
    def _apply(self, key: str, entry: Entry | None) -> bool:
        """Fold one key's new state in; True if the instances changed."""
        instance_id = split_key(self._path, key)
        if instance_id is None:
            return False  # not an instance's key (the service's own node on ZooKeeper, ...)
        instance = None if entry is None else decode_entry(self._format, self._name, instance_id, entry)
        return self._held.put(key, instance)

    def _publish(self) -> None:
        """Wake the waiters; the followers and listeners get the new tuple (built here only
        if one of them is there, else by the first read)."""
        self._wake()
        if not self._followers and not self._listeners:
            return
        instances = self._held.snapshot()
        for queue in self._followers:
            queue.put_nowait(instances)
        for listener in list(self._listeners):
            try:
                result = listener(instances)
                if inspect.isawaitable(result):
                    self._client._spawn(_awaited(result))
            except Exception:  # one listener's bug must not starve the others or the watch
                log.exception("coordkit discovery listener %r failed", listener)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


async def _awaited(result: Awaitable[Any]) -> None:
    try:
        await result
    except Exception:
        log.exception("coordkit discovery listener failed")
