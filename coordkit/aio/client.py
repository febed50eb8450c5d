"""``coordkit.aio.connect(url)`` and :class:`AsyncClient`: the sync client's surface, awaited.

An :class:`AsyncClient` is an :class:`~coordkit.aio.store.AsyncStore` (keys, watches, the
session, on one event loop) with the factory methods of the recipes; like
:mod:`coordkit.client` it is a facade, the only module of the package that imports them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection, Generator, Mapping
from typing import Any, TypeVar, overload

from tenacity import Retrying

from ..balancing.balancer import DEFAULT_FAILURES, Balancer, FailureSpec
from ..balancing.budget import RetryBudget
from ..balancing.by_name import make_strategy
from ..balancing.ejection import OutlierEjection
from ..balancing.filters import FilterSpec
from ..balancing.strategies import Strategy, StrategyName
from ..config import Config
from ..core.store import Store
from ..core.url import parse_url
from ..discovery._checks import DEFAULT_BASE, check_service
from ..discovery.instance import UP, ServiceInstance
from ..discovery.reads import read_instances
from ..discovery.registry import planned_instance
from ..discovery.status import set_instance_status
from ..errors import ConfigurationError
from .balancer import AsyncBalancer
from .config import OpeningConfig
from .discovery import AsyncServiceCache
from .election import AsyncElection
from .lock import AsyncLock
from .opening import Opening
from .registry import AsyncRegistration, register
from .semaphore import AsyncRWLock, AsyncSemaphore
from .store import AsyncStore
from .threads import blocking

__all__ = ["AsyncClient", "connect"]

S = TypeVar("S")


def connect(url: str | None = None, *, retry: Retrying | None = None, **options: Any) -> _Connecting:
    """``await coordkit.aio.connect(url, ...)`` or ``async with coordkit.aio.connect(url) as c``:
    an :class:`AsyncClient` with its session open. Options and errors are those of
    :func:`coordkit.connect`; nothing is left open when it raises or is cancelled."""
    security: dict[str, object] = {
        k: options.pop(k) for k in ("tls", "user", "password", "password_file", "acl", "sasl") if k in options
    }
    unknown = set(options) - {"ttl", "timeout", "connect_timeout", "margin"}
    if unknown:
        raise ConfigurationError(f"connect() got unknown options: {', '.join(sorted(unknown))}")
    given = {k: v for k, v in options.items() if v is not None}
    target = parse_url(url, given, security=security)
    return _Connecting(lambda: Store.open(target, retry))


class _Connecting:
    """What :func:`connect` returns: awaitable, and an async context manager closing the client."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open_store = open_store
        self._client: AsyncClient | None = None

    def __await__(self) -> Generator[Any, None, AsyncClient]:
        return self._open().__await__()

    async def _open(self) -> AsyncClient:
        # Opening a session is one blocking handshake per client (bounded by connect_timeout),
        # done once on a thread of its own; everything after it is event-driven.
        store = await blocking(self._open_store, name="coordkit-aio-connect", orphaned=Store.close)
        return AsyncClient(store, asyncio.get_running_loop())

    async def __aenter__(self) -> AsyncClient:
        self._client = await self._open()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()


class AsyncClient(AsyncStore):
    """A connection to one coordination store for asyncio code (built by :func:`connect`):
    the key/value surface of :class:`~coordkit.aio.store.AsyncStore` and the recipes."""

    # --- recipes ------------------------------------------------------------------------------
    def lock(self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True) -> AsyncLock:
        """A distributed lock (see :class:`AsyncLock`); nothing is sent until acquire()."""
        self._check()
        return AsyncLock(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    def election(
        self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> AsyncElection:
        """A leader election (see :class:`AsyncElection`)."""
        self._check()
        return AsyncElection(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    # --- semaphores, read/write locks and configuration (r-aio-recipes) ----------------------------
    def semaphore(
        self, name: str, limit: int, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> AsyncSemaphore:
        """A distributed semaphore admitting at most ``limit`` holders (see :class:`AsyncSemaphore`)."""
        self._check()
        return AsyncSemaphore(self, name, limit, identity=identity, lose_on_suspend=lose_on_suspend)

    def rwlock(self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True) -> AsyncRWLock:
        """A fair read/write lock: ``async with rw.read:`` (shared), ``async with rw.write:`` (exclusive)."""
        self._check()
        return AsyncRWLock(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    @overload
    def config(
        self,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: None = None,
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> OpeningConfig[None]: ...
    @overload
    def config(
        self,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: Callable[..., S],
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> OpeningConfig[S]: ...
    def config(
        self,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: Callable[..., Any] | None = None,
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> OpeningConfig[Any]:
        """``await client.config(app, ...)`` (or ``async with``): the live configuration of
        ``app`` (see :class:`AsyncConfig`; options and errors of :meth:`coordkit.Client.config`)."""
        self._check()
        options: dict[str, Any] = {
            "base": base,
            "defaults": defaults,
            "schema": schema,
            "env_prefix": env_prefix,
            "environ": environ,
            "writable": writable,
            "live": live,
        }
        return OpeningConfig(self, lambda: Config(self.sync, app, **options))

    # --- discovery and balancing --------------------------------------------------------------
    def register(
        self,
        name: str,
        address: str,
        port: int,
        *,
        id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        weight: int = 1,
        base: str = DEFAULT_BASE,
        ssl_port: int | None = None,
        uri_spec: str | Mapping[str, Any] | None = None,
    ) -> Opening[AsyncRegistration]:
        """Register an instance of service ``name`` (see :class:`AsyncRegistration`; the options
        of :meth:`coordkit.Client.register`): ``reg = await client.register(...)``, or ``async
        with client.register(...) as reg:`` to deregister on exit. Bad arguments raise
        ConfigurationError here, before anything is sent."""
        self._check()
        self._store.require_session("a registration")
        key, instance = planned_instance(
            name,
            address,
            port,
            id=id,
            metadata=metadata,
            weight=weight,
            base=base,
            ssl_port=ssl_port,
            uri_spec=uri_spec,
        )
        registration = AsyncRegistration(self, key, instance)
        return Opening(lambda: register(registration))

    async def instances(self, name: str, *, base: str = DEFAULT_BASE) -> list[ServiceInstance]:
        """The live instances of service ``name`` (one read; see :meth:`coordkit.Client.instances`)."""
        self._check()
        check_service(name)  # refused here, as by the sync call, before a thread is used
        return await self._threads.run(lambda: read_instances(self.sync, name, base=base))

    async def set_status(
        self, name: str, instance_id: str, status: str, *, reason: str = "", base: str = DEFAULT_BASE
    ) -> ServiceInstance:
        """An operator's change of an instance's status (see :meth:`coordkit.Client.set_status`)."""
        self._check()
        return await self._threads.run(
            lambda: set_instance_status(self.sync, name, instance_id, status, reason=reason, base=base)
        )

    def discover(
        self, name: str, *, base: str = DEFAULT_BASE, statuses: Collection[str] | None = (UP,)
    ) -> Opening[AsyncServiceCache]:
        """The live instances of service ``name`` (see :class:`AsyncServiceCache`): ``await`` it
        (it returns once the initial read is done) or ``async with`` it to close it on exit."""
        self._check()
        cache = AsyncServiceCache(self, name, base=base, statuses=statuses)
        return Opening(cache._start)

    def balancer(
        self,
        name: str,
        strategy: StrategyName | Strategy = "round_robin",
        *,
        base: str = DEFAULT_BASE,
        filters: FilterSpec = None,
        ejection: OutlierEjection | bool = True,
        retry: Retrying | None = None,
        budget: RetryBudget | bool = True,
        failure: FailureSpec = DEFAULT_FAILURES,
        statuses: Collection[str] | None = (UP,),
    ) -> Opening[AsyncBalancer]:
        """A balancer over a new live cache of service ``name`` (see :class:`AsyncBalancer`; the
        options of :meth:`coordkit.Client.balancer`, checked here before anything is read):
        ``await`` it or ``async with`` it. ``await balancer.call(async_fn)``."""
        self._check()
        chosen = make_strategy(strategy)
        cache = AsyncServiceCache(self, name, base=base, statuses=None)  # the balancer filters

        async def start() -> AsyncBalancer:
            await cache._start()
            try:
                sync = Balancer(
                    cache,
                    chosen,
                    filters=filters,
                    ejection=ejection,
                    retry=retry,
                    budget=budget,
                    failure=failure,
                    statuses=statuses,
                    owns_source=True,
                )
            except BaseException:
                await cache.aclose()
                raise
            return AsyncBalancer(sync, cache)

        return Opening(start)
