"""coordkit for asyncio: ``client = await coordkit.aio.connect(url)`` (or ``async with``).

The sync client's surface and semantics, awaited on one event loop, over the same core
(session, names, queue protocol, fencing): see :mod:`coordkit.aio.client`. Waiting for a
lock, a leadership or a watch event holds no thread.
"""

from __future__ import annotations

from .client import AsyncClient, connect
from .config import AsyncConfig
from .election import AsyncElection
from .lock import AsyncLock
from .semaphore import AsyncRWLock, AsyncSemaphore
from .watch import AsyncWatch

__all__ = [
    "AsyncClient",
    "AsyncConfig",
    "AsyncElection",
    "AsyncLock",
    "AsyncRWLock",
    "AsyncSemaphore",
    "AsyncWatch",
    "connect",
]
