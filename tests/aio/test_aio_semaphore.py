"""Async semaphores and read/write locks on every backend: one queue with sync contenders,
several slots per client, and cancellation that leaves no contender behind."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.core.async_deadline import timeout_in
from coordkit.errors import ConfigurationError


async def _until(predicate: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Wait for another client's view of the queue (no event to wait on), by a deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not predicate():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _queued(client: coordkit.Client, name: str) -> int:
    return len(client.lock(name).contenders())


def test_semaphore_slots_are_shared_with_sync_contenders(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    sync_slot = client.semaphore("pool", 3)
    assert sync_slot.acquire()

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            with pytest.raises(ConfigurationError):
                aio.semaphore("pool", 0)
            first, second, third = (aio.semaphore("pool", 3) for _ in range(3))
            # one client takes two slots through two handles, at once
            assert await first.acquire(timeout=5) and await second.acquire(timeout=5)
            assert first.token is not None and second.token is not None
            assert await third.acquire(timeout=0.3) is False  # 3 of 3 taken
            assert _queued(client, "pool") == 3
            waiter = asyncio.ensure_future(third.acquire(timeout=10))
            await _until(lambda: _queued(client, "pool") == 4, "the fourth contender to queue")
            # the head (the sync slot), not the contender right ahead, leaves: that admits it
            await asyncio.get_running_loop().run_in_executor(None, sync_slot.release)
            assert await waiter is True
            assert third.is_held and sync_slot.acquire(timeout=0.3) is False
            for slot in (first, second, third):
                await slot.release()

    arun(main())
    assert sync_slot.acquire(timeout=5)
    sync_slot.release()


def test_semaphore_cancellation_leaves_no_contender(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    holder = client.semaphore("cancel", 1)
    assert holder.acquire()

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            slot = aio.semaphore("cancel", 1)
            task = asyncio.ensure_future(slot.acquire())
            await _until(lambda: _queued(client, "cancel") == 2, "the async contender to queue")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _until(lambda: _queued(client, "cancel") == 1, "the cancelled contender to go")
            with pytest.raises(TimeoutError):  # asyncio.timeout() around an acquire: the same
                async with timeout_in(0.3):
                    await slot.acquire()
            await _until(lambda: _queued(client, "cancel") == 1, "the timed-out contender to go")
            assert [c.key for c in holder.contenders()] == [holder.key]
            await asyncio.get_running_loop().run_in_executor(None, holder.release)

            entered = asyncio.Event()

            async def body() -> None:
                async with slot:
                    entered.set()
                    await asyncio.Event().wait()  # until cancelled

            task = asyncio.ensure_future(body())
            await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert holder.contenders() == []  # released before the task ended
            assert not slot.is_held

    arun(main())


def test_rwlock_async_readers_share_and_sync_writer_waits(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    writer = client.rwlock("doc")

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            r1, r2 = aio.rwlock("doc"), aio.rwlock("doc")  # two readers on one client
            assert await r1.read.acquire(timeout=5) and await r2.read.acquire(timeout=5)
            loop = asyncio.get_running_loop()
            waiting = loop.run_in_executor(None, lambda: writer.write.acquire(timeout=10))
            await _until(lambda: _queued(client, "doc") == 3, "the sync writer to queue")
            late = aio.rwlock("doc")
            assert await late.read.acquire(timeout=0.3) is False  # behind the writer: waits
            await r1.read.release()
            assert not waiting.done()
            await r2.read.release()
            assert await waiting is True
            assert await late.write.acquire(timeout=0.3) is False
            await loop.run_in_executor(None, writer.write.release)
            async with late.write:
                assert late.write.is_held and late.write.token is not None

    arun(main())
    assert writer.write.acquire(blocking=False)
    writer.write.release()


def test_rwlock_cancellation_leaves_no_contender(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    reader = client.rwlock("rw")
    assert reader.read.acquire()

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            rw = aio.rwlock("rw")
            task = asyncio.ensure_future(rw.write.acquire())
            await _until(lambda: _queued(client, "rw") == 2, "the async writer to queue")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _until(lambda: _queued(client, "rw") == 1, "the cancelled writer to go")
            async with rw.read:  # a reader shares with the sync reader at once
                assert rw.read.is_held
            await asyncio.get_running_loop().run_in_executor(None, reader.read.release)

            entered = asyncio.Event()

            async def body() -> None:
                async with rw.write:
                    entered.set()
                    await asyncio.Event().wait()

            task = asyncio.ensure_future(body())
            await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert reader.read.contenders() == []

    arun(main())


def test_a_departure_wakes_only_the_async_waiter_that_can_enter(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    """The herd-free semaphore over the async API (recipes/_departures.py): holders leave in the
    order they came, no waiter watches the queue's prefix, no contender is watched by more than
    ``limit`` waiters at once, and each waiter reads the queue again exactly once, when it may
    enter (out of order, see tests/conformance/test_semaphore_wakeups.py)."""
    limit, waiters = 2, 6
    holders = [client.semaphore("pool", limit) for _ in range(limit)]
    assert all(slot.acquire(timeout=5) for slot in holders)

    async def main() -> None:
        clients = [await coordkit.aio.connect(store_url, ttl=4) for _ in range(waiters)]
        try:
            reads, watching, most, prefixes = [0] * waiters, Counter[str](), [0], []
            for index, aio in enumerate(clients):
                listing, waiting, watch = aio._ops.queue_list, aio._ops.wait_gone, aio._ops.watch

                async def counted(*args: Any, _listing: Any = listing, _i: int = index, **kw: Any) -> Any:
                    reads[_i] += 1
                    return await _listing(*args, **kw)

                async def watched(key: str, *args: Any, _waiting: Any = waiting, **kw: Any) -> Any:
                    watching[key] += 1
                    most[0] = max(most[0], watching[key])
                    try:
                        return await _waiting(key, *args, **kw)
                    finally:
                        watching[key] -= 1

                async def prefix(key: str, *args: Any, _watch: Any = watch, **kw: Any) -> Any:
                    if kw.get("prefix"):
                        prefixes.append(key)
                    return await _watch(key, *args, **kw)

                aio._ops.queue_list = counted  # type: ignore[method-assign]
                aio._ops.wait_gone = watched  # type: ignore[method-assign]
                aio._ops.watch = prefix  # type: ignore[method-assign]
            slots = [aio.semaphore("pool", limit) for aio in clients]
            tasks = []
            for index, slot in enumerate(slots):  # queued one after another: a known order
                tasks.append(asyncio.ensure_future(slot.acquire(timeout=30)))
                await _until(lambda n=index: _queued(client, "pool") == limit + n + 1, "a waiter to queue")
            joined = list(reads)
            loop = asyncio.get_running_loop()
            # the oldest holder first, then the other, then the oldest admitted waiter each time
            await loop.run_in_executor(None, holders[0].release)
            for index, task in enumerate(tasks):
                async with timeout_in(20):
                    assert await task is True, f"waiter {index} never admitted"
                assert all(not later.done() for later in tasks[index + 1 :]), "admitted out of order"
                if index == 0:
                    await loop.run_in_executor(None, holders[1].release)
                else:
                    await slots[index - 1].release()
            await slots[-1].release()
            assert [r - j for r, j in zip(reads, joined, strict=True)] == [1] * waiters
            assert not prefixes, f"waiters watched the whole queue: {prefixes}"
            assert 0 < most[0] <= limit, f"{most[0]} waiters watched one contender at once"
        finally:
            for aio in clients:
                await aio.aclose()

    arun(main())


def test_an_async_waiter_whose_read_fails_after_its_turn_came_reads_again(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    """As tests/conformance/test_semaphore_wakeups.py's sync test: the read that would admit
    the waiter fails once; the waiter reads again rather than wait on the window it emptied."""
    holders = [client.semaphore("flaky", 2) for _ in range(2)]
    assert all(slot.acquire(timeout=5) for slot in holders)

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            failing, listed = [False], aio._ops.queue_list

            async def flaky(*args: Any, **kw: Any) -> Any:
                if failing[0]:
                    failing[0] = False
                    raise coordkit.BackendUnavailableError("refused once by the test")
                return await listed(*args, **kw)

            aio._ops.queue_list = flaky  # type: ignore[method-assign]
            slot = aio.semaphore("flaky", 2)
            waiter = asyncio.ensure_future(slot.acquire(timeout=30))
            await _until(lambda: _queued(client, "flaky") == 3, "the waiter to queue")
            failing[0] = True
            await asyncio.get_running_loop().run_in_executor(None, holders[0].release)
            async with timeout_in(10):
                assert await waiter is True, "the waiter did not read the queue again"
            assert not failing[0], "the failing read was never made"
            await slot.release()

    arun(main())
    holders[1].release()
