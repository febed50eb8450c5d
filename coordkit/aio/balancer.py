"""Client-side load balancing for asyncio code: ``await balancer.call(async_fn)``.

An :class:`AsyncBalancer` is the sync :class:`~coordkit.balancing.Balancer` (its candidate set,
filters, strategies, outlier ejection and retry budget, unchanged) following an
:class:`~coordkit.aio.discovery.AsyncServiceCache`, with the tracked request awaited
(:func:`coordkit.balancing.awaited.call_awaited`): the outcome and latency of each attempt go
to the same strategy and ejection, and a failure is retried on another instance by the same
tenacity policy, without holding a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from tenacity import Retrying

from ..balancing.awaited import call_awaited
from ..balancing.balancer import Balancer
from ..balancing.ejection import OutlierEjection
from ..balancing.strategies import Strategy
from ..discovery.instance import ServiceInstance
from .discovery import AsyncServiceCache

__all__ = ["AsyncBalancer"]

T = TypeVar("T")


class AsyncBalancer:
    """A balancer over the live instances of one service (``await client.balancer(name, ...)``,
    options as :meth:`coordkit.Client.balancer`). :meth:`pick` reads memory only; :meth:`call`
    awaits ``fn(instance)`` with outcome tracking and retries elsewhere. Closing it closes its
    cache (as leaving ``async with``)."""

    def __init__(self, balancer: Balancer, cache: AsyncServiceCache) -> None:
        self._balancer = balancer
        self._cache = cache

    async def call(
        self,
        fn: Callable[[ServiceInstance], Awaitable[T]],
        *,
        key: object = None,
        retry: Retrying | None = None,
    ) -> T:
        """Await ``fn(instance)`` on a picked instance and return its result; the semantics of
        :meth:`coordkit.Balancer.call` (failures retried on an instance not tried yet, within
        the policy and the retry budget; NoInstanceAvailableError when none is in rotation). A
        cancelled attempt ends the instance's request without counting as a failure."""
        return await call_awaited(self._balancer, fn, key=key, retry=retry)

    @asynccontextmanager
    async def picked(self, key: object = None) -> AsyncIterator[ServiceInstance]:
        """``async with balancer.picked() as instance:`` one tracked request without retries."""
        with self._balancer.picked(key) as instance:
            yield instance

    def pick(self, key: object = None) -> ServiceInstance:
        """One instance (memory only); see :meth:`coordkit.Balancer.pick`."""
        return self._balancer.pick(key)

    @property
    def name(self) -> str:
        return self._balancer.name

    @property
    def sync(self) -> Balancer:
        """The sync balancer underneath (the candidate set, the strategy, the ejection)."""
        return self._balancer

    @property
    def source(self) -> AsyncServiceCache:
        return self._cache

    @property
    def strategy(self) -> Strategy:
        return self._balancer.strategy

    @property
    def ejection(self) -> OutlierEjection | None:
        return self._balancer.ejection

    @property
    def stale(self) -> bool:
        return self._balancer.stale

    @property
    def instances(self) -> tuple[ServiceInstance, ...]:
        return self._balancer.instances

    @property
    def eligible(self) -> tuple[ServiceInstance, ...]:
        return self._balancer.eligible

    @property
    def ejected(self) -> tuple[ServiceInstance, ...]:
        return self._balancer.ejected

    async def aclose(self) -> None:
        """Stop following the cache and close it. Idempotent."""
        self._balancer.close()
        await self._cache.aclose()

    async def __aenter__(self) -> AsyncBalancer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<coordkit.aio.AsyncBalancer {self._balancer!r}>"
