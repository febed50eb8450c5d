"""Async locks on every backend: exclusion with sync contenders on the same queue, fencing
tokens, timeouts, and cancellation that leaves no contender behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.core.async_deadline import timeout_in
from coordkit.core.states import SessionState
from coordkit.errors import ClosedError, OwnershipError


async def _until(predicate: Callable[[], Any], what: str, seconds: float = 10.0) -> None:
    """Wait for a condition the test cannot get an event for (another client's view), by a
    deadline, re-checking on the loop's schedule."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not await predicate():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_sync_and_async_contenders_share_one_queue(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    sync_lock = client.lock("shared")
    assert sync_lock.acquire()
    sync_token = sync_lock.token
    assert sync_token is not None

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            lock = aio.lock("shared")
            assert await lock.acquire(timeout=0.3) is False  # the sync holder excludes us
            assert not await lock.acquire(blocking=False)
            assert [c.key for c in client.lock("shared").contenders()] == [sync_lock.key]
            waiter = asyncio.ensure_future(lock.acquire(timeout=10))
            await _until(lambda: _count(client, "shared", 2), "the async contender to queue")
            # Waiting is a watch, not a poll: over a window of waiting the process stays idle.
            cpu = time.process_time()
            done, _ = await asyncio.wait({waiter}, timeout=1.0)
            assert not done and time.process_time() - cpu < 0.3
            await asyncio.get_running_loop().run_in_executor(None, sync_lock.release)
            assert await waiter is True
            assert lock.is_held and lock.token is not None and lock.token > sync_token
            assert lock.key == client.lock("shared").contenders()[0].key  # the sync view agrees
            assert sync_lock.acquire(timeout=0.3) is False  # and the sync side is excluded now
            await lock.release()
            assert not lock.is_held and lock.token is None
            with pytest.raises(OwnershipError):
                await lock.release()

    arun(main())
    assert sync_lock.acquire(timeout=5)
    sync_lock.release()


async def _count(client: coordkit.Client, name: str, n: int) -> bool:
    return len(client.lock(name).contenders()) == n


def test_cancelled_acquire_leaves_no_contender(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    holder = client.lock("c")
    assert holder.acquire()

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            lock = aio.lock("c")
            task = asyncio.ensure_future(lock.acquire())
            await _until(lambda: _count(client, "c", 2), "the async contender to queue")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _until(lambda: _count(client, "c", 1), "the cancelled contender to go")
            assert [c.key for c in client.lock("c").contenders()] == [holder.key]

            # asyncio.timeout() around an acquire: the same
            with pytest.raises(TimeoutError):
                async with timeout_in(0.3):
                    await lock.acquire()
            await _until(lambda: _count(client, "c", 1), "the timed-out contender to go")

            # cancelled before the join answered: the join is finished and undone
            task = asyncio.ensure_future(lock.acquire())
            await asyncio.sleep(0)  # the acquire's first step: its join is now scheduled
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.gather(*aio._tasks)  # the client's own tasks: the join, then its undo
            assert [c.key for c in client.lock("c").contenders()] == [holder.key]
            # the handle is usable again afterwards
            holder.release()
            assert await lock.acquire(timeout=5)
            await lock.release()

    arun(main())


def test_a_non_blocking_acquire_gives_up_when_a_woken_waiter_takes_the_turn(
    store_url: str, arun: Callable[..., Any]
) -> None:
    """Just after a release the client's turn on the name looks free while the waiter it woke
    has not run yet: acquire(blocking=False) must answer False then, not queue behind it."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            first, second, third = aio.lock("t"), aio.lock("t"), aio.lock("t")
            assert await first.acquire()
            waiting = asyncio.ensure_future(second.acquire(timeout=10))
            while not first._contention._guard._local._waiters:  # second waits for the turn (loop steps)
                await asyncio.sleep(0)
            await first.release()  # wakes second, which has not run yet
            async with timeout_in(5):
                assert await third.acquire(blocking=False) is False
            assert await waiting is True
            await second.release()

    arun(main())


def test_task_cancelled_inside_async_with_releases(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            entered = asyncio.Event()

            async def body() -> None:
                async with aio.lock("body"):
                    entered.set()
                    await asyncio.Event().wait()  # until cancelled

            task = asyncio.ensure_future(body())
            await entered.wait()
            assert await _count(client, "body", 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert client.lock("body").contenders() == []  # removed before the task ended
            other = aio.lock("body")
            assert await other.acquire(timeout=5)
            await other.release()

    arun(main())


def test_closing_the_client_cancels_its_waiters_cleanly(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    holder = client.lock("closing")
    assert holder.acquire()

    async def main() -> None:
        aio = await coordkit.aio.connect(store_url, ttl=4)
        waiters = [asyncio.ensure_future(aio.lock("closing").acquire()) for _ in range(3)]
        await _until(lambda: _count(client, "closing", 2), "one async contender to queue")
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        await aio.aclose()
        assert [c.key for c in client.lock("closing").contenders()] == [holder.key]

    arun(main())  # fails on a task destroyed while pending or a resource left open
    holder.release()


def test_closing_the_client_ends_its_waiters_and_holders(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    holder = client.lock("ending")
    assert holder.acquire()

    async def main() -> None:
        aio = await coordkit.aio.connect(store_url, ttl=4)
        held = aio.lock("other")
        assert await held.acquire(timeout=5)
        waiter = asyncio.ensure_future(aio.lock("ending").acquire())
        await _until(lambda: _count(client, "ending", 2), "the async contender to queue")
        await aio.aclose()
        with pytest.raises(ClosedError):
            await waiter
        assert held.lost.is_set() and not held.is_held
        assert [c.key for c in client.lock("ending").contenders()] == [holder.key]
        assert client.lock("other").contenders() == []

    arun(main())
    holder.release()


def test_suspended_session_ends_an_async_holding(arun: Callable[..., Any]) -> None:
    # The memory backend simulates the partition in-process (the fault tests do it with
    # proxies on the servers); the session manager above it is the real one.
    url = f"memory://aio-suspend-{id(object())}"

    async def main() -> None:
        async with coordkit.aio.connect(url, ttl=4) as aio:
            lock = aio.lock("held")
            reasons: list[str] = []
            lock.on_lost(reasons.append)
            assert await lock.acquire(timeout=5)
            token = lock.token
            aio.sync.backend.set_reachable(False)  # type: ignore[attr-defined]
            async with timeout_in(10):
                await lock.lost.wait()
            assert not lock.is_held and lock.token is None and reasons
            with pytest.raises(OwnershipError):
                await aio.put("k", "v", fence=lock)
            aio.sync.backend.set_reachable(True)  # type: ignore[attr-defined]
            with pytest.raises(OwnershipError):
                await lock.release()  # it was lost: said so, and the contender is removed
            assert await lock.acquire(timeout=5)
            assert lock.token is not None and token is not None and lock.token > token
            await lock.release()

    arun(main())


def test_a_join_given_up_unconfirmed_hands_the_turn_on_once_cleaned_up(arun: Callable[..., Any]) -> None:
    # The store is unreachable while the session still looks connected (a partition not yet
    # noticed): every try of the join fails unconfirmed, the acquire gives up at its deadline,
    # and the client's turn on the name is kept until the removal of whatever the join made
    # has run after the reconnect; then another handle of the client gets the lock. (The
    # memory adapter joins inline, so the partition must be in place before the acquire.)
    url = f"memory://aio-unconfirmed-{id(object())}"

    async def main() -> None:
        async with coordkit.aio.connect(url, ttl=4) as aio:
            backend: Any = aio.sync.backend
            backend._reachable = False  # unreachable, but no DISCONNECTED told to the session yet
            assert aio.session.state is SessionState.CONNECTED
            assert await aio.lock("u").acquire(timeout=0.5) is False
            backend.set_reachable(True)
            second = aio.lock("u")
            assert await second.acquire(timeout=5)
            assert [c.key for c in await second.contenders()] == [second.key]
            await second.release()

    arun(main())


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_lost_holding_lets_the_clients_other_handles_contend(api: str, arun: Callable[..., Any]) -> None:
    # Both APIs alike: once a handle's holding is lost (here by a suspension, simulated by the
    # memory backend), another handle of the same client need not wait for its release.
    url = f"memory://aio-turns-{api}-{id(object())}"
    if api == "sync":
        client = coordkit.connect(url, ttl=4)
        first, second = client.lock("x"), client.lock("x")
        assert first.acquire()
        client.backend.set_reachable(False)  # type: ignore[attr-defined]
        assert first.lost.wait(10)
        client.backend.set_reachable(True)  # type: ignore[attr-defined]
        assert second.acquire(timeout=5)
        second.release()
        with pytest.raises(OwnershipError):
            first.release()
        client.close()
        return

    async def main() -> None:
        async with coordkit.aio.connect(url, ttl=4) as aio:
            first, second = aio.lock("x"), aio.lock("x")
            assert await first.acquire()
            aio.sync.backend.set_reachable(False)  # type: ignore[attr-defined]
            async with timeout_in(10):
                await first.lost.wait()
            aio.sync.backend.set_reachable(True)  # type: ignore[attr-defined]
            assert await second.acquire(timeout=5)
            await second.release()
            with pytest.raises(OwnershipError):
                await first.release()
            assert await first.acquire(timeout=5)  # and the lost handle may hold again
            await first.release()

    arun(main())
