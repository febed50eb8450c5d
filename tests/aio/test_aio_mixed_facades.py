"""A lock or election built by hand on ``AsyncClient.sync`` and an async handle of the same name
take turns (on every backend): one session holds one contender per name, so were they to go on
independently they would share it and both hold."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.core.async_deadline import timeout_in
from coordkit.errors import OwnershipError


def _in_thread(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return asyncio.get_running_loop().run_in_executor(None, lambda: call(*args, **kwargs))


def test_a_sync_lock_on_the_clients_store_and_an_async_one_exclude_each_other(
    store_url: str, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            first, second = aio.lock("mixed"), aio.lock("mixed")
            by_hand = coordkit.Lock(aio.sync, "mixed")
            assert await first.acquire(timeout=5)
            assert await _in_thread(by_hand.acquire, timeout=0.3) is False
            await first.release()
            assert await _in_thread(by_hand.acquire, timeout=5) is True
            assert await second.acquire(blocking=False) is False
            assert await second.acquire(timeout=0.3) is False
            waiter = asyncio.ensure_future(second.acquire(timeout=10))
            done, _ = await asyncio.wait({waiter}, timeout=0.3)
            assert not done  # waits for the sync holder
            await _in_thread(by_hand.release)
            assert await waiter is True
            assert second.is_held and not by_hand.is_held
            assert await _in_thread(by_hand.acquire, blocking=False) is False
            await second.release()

    arun(main())


def test_an_async_acquire_cancelled_while_a_sync_handle_holds_leaves_the_turn_free(
    store_url: str, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            by_hand = coordkit.Lock(aio.sync, "mixed")
            assert await _in_thread(by_hand.acquire, timeout=5)
            waiter = asyncio.ensure_future(aio.lock("mixed").acquire(timeout=10))
            done, _ = await asyncio.wait({waiter}, timeout=0.3)
            assert not done
            waiter.cancel()
            done, _ = await asyncio.wait({waiter}, timeout=2)
            assert done and waiter.cancelled()
            await _in_thread(by_hand.release)
            late = aio.lock("mixed")
            assert await late.acquire(blocking=False) is True  # neither facade's turn was kept
            assert await _in_thread(by_hand.acquire, timeout=0.3) is False
            await late.release()
            assert await _in_thread(by_hand.acquire, timeout=5) is True
            await _in_thread(by_hand.release)

    arun(main())


def test_a_sync_election_on_the_clients_store_and_an_async_one_take_turns(
    store_url: str, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            by_hand = coordkit.Election(aio.sync, "mixed-leader")
            async with aio.election("mixed-leader").leadership("async", timeout=5) as leading:
                assert leading.is_leader
                assert await _in_thread(by_hand.campaign, "sync", timeout=0.3) is False
            assert await _in_thread(by_hand.campaign, "sync", timeout=5) is True
            assert await aio.election("mixed-leader").campaign("async", timeout=0.3) is False
            await _in_thread(by_hand.resign)

    arun(main())


def test_a_fenced_write_through_the_store_that_finds_the_lock_gone_ends_it_on_the_loop(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    """The sync store tells the async lock of a refused fenced write on the caller's thread; the
    holding ends on the loop (callbacks there, the turn handed on once), not on that thread."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            lock, told = aio.lock("fenced"), asyncio.get_running_loop().create_future()
            lock.on_lost(lambda reason: told.set_result(threading.get_ident()))
            assert await lock.acquire(timeout=5)
            contender = lock._contention.mine
            assert contender is not None
            client.backend.queue_leave(contender)  # gone behind the holder's back
            with pytest.raises(OwnershipError):
                await _in_thread(aio.sync.put, "guarded", "v", fence=lock)
            async with timeout_in(5):
                assert await told == threading.get_ident()  # this test runs on the loop's thread
            assert not lock.is_held and client.get("guarded") is None
            by_hand = coordkit.Lock(aio.sync, "fenced")
            assert await _in_thread(by_hand.acquire, timeout=5) is True  # the turn was handed on
            await _in_thread(by_hand.release)

    arun(main())


def test_a_loss_told_off_the_loop_is_seen_by_a_release_before_the_loop_runs(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    """A fenced write on another thread finds the contender gone; a release on the loop right
    after (the loop has not run the hand-over yet) raises the loss instead of dropping it."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            lock, _ = await _refused_behind_the_loops_back(aio, client)
            assert not lock.lost.is_set()  # the hand-over has not run
            with pytest.raises(OwnershipError, match="lost before release"):
                await lock.release()  # the first look at the handle since the refusal
            assert lock.lost.is_set() and not lock.is_held and client.get("guarded") is None

    arun(main())


def test_a_loss_told_off_the_loop_is_seen_by_is_held_and_token_at_once(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    """As above, read through ``is_held`` and ``token``; an ``acquire()`` right after, with no
    release, takes the name anew."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            lock, token = await _refused_behind_the_loops_back(aio, client)
            assert not lock.is_held and lock.token is None and lock.lost.is_set()
            assert await lock.acquire(timeout=5)  # no release needed after a loss
            assert lock.token is not None and lock.token > token
            await lock.release()

    arun(main())


async def _refused_behind_the_loops_back(
    aio: coordkit.aio.AsyncClient, client: coordkit.Client
) -> tuple[Any, int]:
    """An async lock held, its contender removed by ``client``, then a fenced write through
    ``aio.sync`` refused on a thread while the loop is blocked (joined here): the loss has been
    told to the lock, and its hand-over to the loop has not run. Returns the lock and its token."""
    lock = aio.lock("fenced-gap")
    assert await lock.acquire(timeout=5)
    contender = lock._contention.mine
    assert contender is not None
    client.backend.queue_leave(contender)  # gone behind the holder's back
    refused: list[BaseException] = []

    def write() -> None:
        try:
            aio.sync.put("guarded", "v", fence=lock)
        except OwnershipError as exc:
            refused.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(10)  # blocking the loop: nothing queued for it meanwhile runs
    assert refused
    return lock, contender.create_revision
