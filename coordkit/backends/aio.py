"""The async adapter of a backend (see :mod:`.async_ops` for the contract): its own where it
has one, else the defaults."""

from __future__ import annotations

import asyncio

from .async_ops import AsyncOps
from .base import Backend

__all__ = ["AsyncOps", "async_ops"]


def async_ops(backend: Backend, loop: asyncio.AbstractEventLoop) -> AsyncOps:
    """The async calls of ``backend`` on ``loop``: its own adapter where it has one."""
    from .memory.backend import MemoryBackend

    if isinstance(backend, MemoryBackend):
        from .memory.aio import MemoryAsyncOps

        return MemoryAsyncOps(backend, loop)
    try:
        from .zookeeper.aio import ZooKeeperAsyncOps, is_zookeeper
    except ImportError:  # kazoo not installed: not a ZooKeeper backend either
        pass
    else:
        if is_zookeeper(backend):
            return ZooKeeperAsyncOps(backend, loop)
    try:
        from .etcd.aio import EtcdAsyncOps, is_etcd
    except ImportError:
        pass
    else:
        if is_etcd(backend):
            return EtcdAsyncOps(backend, loop)
    return AsyncOps(backend, loop)
