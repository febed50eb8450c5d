"""coordkit for asyncio: ``client = await coordkit.aio.connect(url)`` (or ``async with``).

The sync client's surface and semantics, awaited on one event loop, over the same core
(session, names, queue protocol, fencing): see :mod:`coordkit.aio.client`. Waiting for a
lock, a leadership or a watch event holds no thread; ``client.register()``, ``discover()``
and ``balancer()`` give the registry, its live cache and ``await balancer.call(async_fn)``.
"""

from __future__ import annotations

from .balancer import AsyncBalancer
from .client import AsyncClient, connect
from .config import AsyncConfig
from .discovery import AsyncServiceCache
from .election import AsyncElection
from .lock import AsyncLock
from .registry import AsyncRegistration
from .semaphore import AsyncRWLock, AsyncSemaphore
from .watch import AsyncWatch

__all__ = [
    "AsyncBalancer",
    "AsyncClient",
    "AsyncConfig",
    "AsyncElection",
    "AsyncLock",
    "AsyncRWLock",
    "AsyncRegistration",
    "AsyncSemaphore",
    "AsyncServiceCache",
    "AsyncWatch",
    "connect",
]
