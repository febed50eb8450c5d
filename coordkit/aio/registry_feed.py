"""One watch on the registry per client, shared by every discovery cache of that client.

A backend watch costs threads (its stream or its ZooKeeper watchers, and a dispatcher), so a
cache per service must not cost a watch per service: the first cache of a client under a
registry root starts one recursive watch on that root, every cache of the client subscribes
to it, and one task of the client hands each event to the caches on the loop (a cache takes
the events under its own service's path). The last cache to leave stops the watch. The feed
is in place when :meth:`RegistryFeed.subscribe` returns: every later change reaches the
subscriber, in store order.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..backends.base import WatchEvent
from .watch import AsyncWatch

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["RegistryFeed", "feed_for"]

log = logging.getLogger("coordkit.aio")
Subscriber = Callable[[WatchEvent], None]
_FEEDS: weakref.WeakKeyDictionary[AsyncStore, dict[str, RegistryFeed]] = weakref.WeakKeyDictionary()


def feed_for(client: AsyncStore, base: str) -> RegistryFeed:
    """The client's feed of the registry under ``base`` (made on first use)."""
    feeds = _FEEDS.setdefault(client, {})
    if base not in feeds:
        feeds[base] = RegistryFeed(client, base, lambda: feeds.pop(base, None))
    return feeds[base]


class RegistryFeed:
    """The shared watch of one registry root (see the module docstring)."""

    def __init__(self, client: AsyncStore, base: str, forget: Callable[[], object]) -> None:
        self._client = client
        self._base = base
        self._forget = forget
        self._subscribers: list[Subscriber] = []
        self._starting: asyncio.Task[AsyncWatch] | None = None
        self._pump: asyncio.Task[None] | None = None

    async def subscribe(self, subscriber: Subscriber) -> None:
        """Deliver every change under the root from now on to ``subscriber`` (on the loop).
        Raises what starting the watch raises (then nothing is subscribed)."""
        self._subscribers.append(subscriber)
        try:
            if self._starting is None:
                self._starting = self._client._spawn(self._client.watch(self._base, recursive=True))
            watch = await asyncio.shield(self._starting)
        except BaseException:
            self.unsubscribe(subscriber)
            raise
        if self._pump is None:
            self._pump = self._client._spawn(self._deliver(watch))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber``; the last one out stops the watch. Idempotent."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)
        if self._subscribers:
            return
        self._forget()
        starting, self._starting = self._starting, None
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if starting is not None:
            starting.add_done_callback(_cancel_watch)

    async def _deliver(self, watch: AsyncWatch) -> None:
        async for event in watch:
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception:  # one cache's bug must not starve the others
                    log.exception("coordkit discovery: a cache failed on an event of %s", self._base)


def _cancel_watch(starting: asyncio.Task[AsyncWatch]) -> None:
    if not starting.cancelled() and starting.exception() is None:
        starting.result().cancel()
