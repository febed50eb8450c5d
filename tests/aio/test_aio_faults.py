"""Async locks through an outage of a dedicated backend (coordkit.testing.Outage: the server
SIGSTOPped, as a lost network; the memory store made unreachable in-process): a holder is told
at once and its key removed on recovery; a waiter keeps its place and is admitted after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.core.async_deadline import timeout_in
from coordkit.core.states import SessionState
from coordkit.testing import eventually
from coordkit.testing.faults import Outage

DEADLINE = 20.0


def _cut(outage: Outage, aio: coordkit.aio.AsyncClient, reachable: bool) -> None:
    if outage.server is None:  # memory: the in-process store is cut per client
        aio.sync.backend.set_reachable(reachable)  # type: ignore[attr-defined]
    elif reachable:
        outage.heal()
    else:
        outage.cut()


async def _connected(aio: coordkit.aio.AsyncClient) -> None:
    """By the deadline, until the session is CONNECTED again (its listener runs on a thread of
    its own; the test looks on the loop's schedule)."""
    async with timeout_in(DEADLINE):
        while aio.state is not SessionState.CONNECTED:
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("kind", ["memory", "zookeeper", "etcd"])
def test_async_holder_and_waiter_through_an_outage(kind: str, arun: Callable[..., Any]) -> None:
    with Outage(kind) as outage:

        async def main() -> None:
            async with (
                coordkit.aio.connect(outage.url, ttl=8, timeout=0.5) as holder_client,
                coordkit.aio.connect(outage.url, ttl=8, timeout=0.5) as waiter_client,
            ):
                holder = holder_client.lock("q")
                assert await holder.acquire(timeout=DEADLINE)
                waiter = waiter_client.lock("q")
                waiting = asyncio.ensure_future(waiter.acquire(timeout=DEADLINE * 2))
                async with timeout_in(DEADLINE):
                    while len(await holder.contenders()) != 2:  # the waiter has joined
                        await asyncio.sleep(0.02)

                for each in (holder_client, waiter_client):
                    _cut(outage, each, False)
                async with timeout_in(DEADLINE):
                    await holder.lost.wait()  # SUSPENDED ends ownership at once
                assert not holder.is_held and holder.token is None and not waiting.done()
                for each in (holder_client, waiter_client):
                    _cut(outage, each, True)
                await _connected(holder_client)

                # The holder's key, which survived with its session, was removed on recovery,
                # and the waiter, which kept its place, is admitted.
                assert await waiting is True
                assert waiter.is_held and waiter.token is not None
                assert [c.key for c in await waiter.contenders()] == [waiter.key]
                await waiter.release()
                with pytest.raises(coordkit.OwnershipError, match="lost"):
                    await holder.release()

        arun(main())


@pytest.mark.parametrize("kind", ["memory", "zookeeper", "etcd"])
def test_async_cache_serves_the_last_instances_through_an_outage(kind: str, arun: Callable[..., Any]) -> None:
    """While the store is unreachable the cache is stale and keeps its instances; once it is
    back the cache is fresh again and follows new registrations; the registration survives."""
    with Outage(kind) as outage:

        async def main() -> None:
            async with (
                coordkit.aio.connect(outage.url, ttl=8, timeout=0.5) as owner,
                coordkit.aio.connect(outage.url, ttl=8, timeout=0.5) as watcher,
                owner.register("payment", "h", 80, id="a") as reg,
                watcher.discover("payment") as cache,
            ):
                assert [i.id for i in cache.instances] == ["a"] and not cache.stale
                for each in (owner, watcher):
                    _cut(outage, each, False)
                async with timeout_in(DEADLINE):
                    while not cache.stale:  # the session's SUSPENDED reaches the loop
                        await asyncio.sleep(0.02)
                assert [i.id for i in cache.instances] == ["a"]  # the last state known
                for each in (owner, watcher):
                    _cut(outage, each, True)
                await _connected(watcher)
                await _connected(owner)
                assert not cache.stale
                async with owner.register("payment", "h", 81, id="b"):
                    assert await cache.wait_for(lambda got: [i.id for i in got] == ["a", "b"], DEADLINE)
                assert reg.registered

        arun(main())


@pytest.mark.parametrize("kind", ["memory", "zookeeper", "etcd"])
def test_an_async_caches_staleness_agrees_with_the_clients_state_at_once(
    kind: str, arun: Callable[..., Any]
) -> None:
    """``cache.stale`` and ``client.state`` tell one state, also before the session's event has
    reached the loop: both are read here while the loop is kept from running."""
    with Outage(kind) as outage:

        async def main() -> None:
            async with (
                coordkit.aio.connect(outage.url, ttl=8, timeout=0.5) as watcher,
                watcher.discover("payment") as cache,
            ):
                assert not cache.stale
                _cut(outage, watcher, False)
                eventually(lambda: watcher.state is not SessionState.CONNECTED, timeout=DEADLINE)
                assert cache.stale  # no await since: the loop has not run the event's dispatch
                _cut(outage, watcher, True)
                eventually(lambda: watcher.state is SessionState.CONNECTED, timeout=DEADLINE)
                assert not cache.stale

        arun(main())
