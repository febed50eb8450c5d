"""2,000 coroutines waiting on one lock in one loop: the process's OS thread count stays a
small constant (waiting holds no thread), and they acquire in the order of their acquire()
calls, behind a sync holder of the same lock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import coordkit
import coordkit.aio

WAITERS = 2000
SPARE_THREADS = 8  # what the client may start on top of the baseline, whatever the waiters


def os_threads() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line in /proc/self/status")


def test_2000_waiters_bounded_threads_in_call_order(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    holder = client.lock("crowd")
    assert holder.acquire()

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            warm = aio.lock("warm")  # the client's own threads exist before the baseline
            assert await warm.acquire(timeout=5)
            await warm.release()
            baseline = os_threads()
            called: list[int] = []
            acquired: list[int] = []
            everyone_waits = asyncio.Event()

            async def waiter(index: int) -> None:
                lock = aio.lock("crowd")
                called.append(index)
                if len(called) == WAITERS:
                    everyone_waits.set()
                assert await lock.acquire(timeout=120)
                acquired.append(index)
                await lock.release()

            tasks = [asyncio.ensure_future(waiter(i)) for i in range(WAITERS)]
            await everyone_waits.wait()
            loop = asyncio.get_running_loop()
            end = loop.time() + 20
            while len(holder.contenders()) < 2:  # the first waiter has queued behind the holder
                assert loop.time() < end, "no async contender queued in the store"
                await asyncio.sleep(0.02)
            waiting_threads = os_threads()
            assert acquired == []
            await loop.run_in_executor(None, holder.release)
            await asyncio.gather(*tasks)
            assert waiting_threads - baseline <= SPARE_THREADS, (baseline, waiting_threads)
            assert acquired == called == list(range(WAITERS))
            assert os_threads() - baseline <= SPARE_THREADS

    arun(main())


NAMES = 200


def test_waiters_on_many_names_hold_no_thread_each(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    # One waiter per name queues in the store (the client's handles of a name take turns
    # locally): 200 names are 200 departure waits in the store at once.
    holders = [client.lock(f"name-{i}") for i in range(NAMES)]
    for holder in holders:
        assert holder.acquire()

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            warm = aio.lock("warm")
            assert await warm.acquire(timeout=5)
            await warm.release()
            baseline = os_threads()
            locks = [aio.lock(f"name-{i}") for i in range(NAMES)]
            tasks = [asyncio.ensure_future(lock.acquire(timeout=60)) for lock in locks]
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while not all(len(h.contenders()) == 2 for h in holders):  # every waiter queued
                assert loop.time() < end, "the async contenders did not queue"
                await asyncio.sleep(0.05)
            waiting_threads = os_threads()
            assert not any(task.done() for task in tasks)
            for holder in holders:  # the most threads seen while the waiters are let in
                await loop.run_in_executor(None, holder.release)
                waiting_threads = max(waiting_threads, os_threads())
            assert all(await asyncio.gather(*tasks))
            assert all(lock.is_held for lock in locks)
            for lock in locks:
                await lock.release()
            assert waiting_threads - baseline <= SPARE_THREADS, (baseline, waiting_threads)

    arun(main())
