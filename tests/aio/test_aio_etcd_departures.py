"""The asyncio client's departure waits on etcd share one Watch stream of its loop (real etcd).

What holds: many waiting coroutines of one client are one stream on the server; a wait starts
at the revision of the waiter's queue read, so a departure between that read and the wait is
seen without another read; a compacted start revision ends the wait for a re-read and its
watch is cancelled; a waiter woken by somebody else cancels its watch at once, a departed
one after its queue read; closing the client ends the stream and leaves no task pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.backends.etcd.conn import etcdrpc
from coordkit.testing.servers import EtcdServer

DEADLINE = 15.0


@pytest.fixture
def server() -> Iterator[EtcdServer]:
    with EtcdServer() as server:  # its own: the server's watch counts are this test's alone
        yield server


@contextlib.asynccontextmanager
async def holder_and_waiter(server: EtcdServer) -> AsyncIterator[tuple[coordkit.Client, Any]]:
    """A sync client that holds keys, and the waiting asyncio client's backend calls (test
    only: the departure waits as the recipes call them)."""
    with coordkit.connect(server.url) as holder:
        async with coordkit.aio.connect(server.url) as waiter:
            yield holder, waiter._ops


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll a server-side count (no event tells the test of it) by a deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not await asyncio.to_thread(check):
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_waiters_of_one_client_share_one_stream_and_each_sees_its_departure(
    server: EtcdServer, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with holder_and_waiter(server) as (holder, ops):
            made = [holder.put(f"/q/{i}", "", ephemeral=True) for i in range(8)]
            _, revision = holder.snapshot("/q")
            wakes = [asyncio.Event() for _ in made]
            waits = [
                asyncio.ensure_future(ops.wait_gone(entry.key, entry.create_revision, wake, revision))
                for entry, wake in zip(made, wakes, strict=True)
            ]
            await until(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 8, "8 watches")
            assert server.metric("etcd_debugging_mvcc_watch_stream_total") == 1
            for entry in made[:4]:
                holder.delete(entry.key)
            assert await asyncio.wait_for(asyncio.gather(*waits[:4]), DEADLINE) == [True] * 4
            assert not any(w.done() for w in waits[4:])  # only those whose key went
            for wake in wakes[4:]:
                wake.set()  # somebody else wakes the others: not gone
            assert await asyncio.wait_for(asyncio.gather(*waits[4:]), DEADLINE) == [False] * 4
            # Woken, they were cancelled at once; the departed ones go with the queue read.
            await until(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 4, "4 cancels")
            await ops.queue_list("/q")
            await until(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 0, "every cancel")
            assert ops._departures.streams_opened == 1
        await until(lambda: server.metric("etcd_debugging_mvcc_watch_stream_total") == 0, "stream's end")

    arun(main())


def test_a_departure_between_the_read_and_the_wait_is_not_missed(
    server: EtcdServer, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with holder_and_waiter(server) as (holder, ops):
            entry = holder.put("/q/a", "", ephemeral=True)
            _, revision = await ops.queue_list("/q")  # the waiter's queue read
            holder.delete("/q/a")  # gone before the wait starts: the watch's history has it
            gone = ops.wait_gone(entry.key, entry.create_revision, asyncio.Event(), revision)
            assert await asyncio.wait_for(gone, DEADLINE) is True
            # Without a revision it reads the key first.
            assert await asyncio.wait_for(ops.wait_gone("/q/a", 0, asyncio.Event()), DEADLINE) is True

    arun(main())


def test_a_compacted_start_revision_ends_the_wait_and_its_watch(
    server: EtcdServer, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with holder_and_waiter(server) as (holder, ops):
            entry = holder.put("/q/a", "", ephemeral=True)
            _, old = holder.snapshot("/q")
            for i in range(3):
                holder.put(f"/other/{i}", "x")
            _, now = holder.snapshot("/q")
            compact = etcdrpc.CompactionRequest(revision=now, physical=True)
            holder.backend._conn.call(  # type: ignore[attr-defined]
                "compact", lambda s, t: s.kv.Compact(compact, **s.args(t)), retry_safe=True
            )
            wake = asyncio.Event()
            gone = ops.wait_gone(entry.key, entry.create_revision, wake, old)
            assert await asyncio.wait_for(gone, DEADLINE) is False and wake.is_set()
            await until(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 0, "its cancel")
            # From a fresh read the wait sees the departure.
            _, fresh = await ops.queue_list("/q")
            waiting = asyncio.ensure_future(ops.wait_gone(entry.key, entry.create_revision, wake, fresh))
            wake.clear()
            await until(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 1, "the new watch")
            holder.delete("/q/a")
            assert await asyncio.wait_for(waiting, DEADLINE) is True

    arun(main())


def test_an_async_clients_lock_waiters_on_many_names_share_one_stream(
    server: EtcdServer, arun: Callable[..., Any]
) -> None:
    """Four locks held by a sync client, awaited by one asyncio client: four watches on one
    stream; each release admits exactly its waiter."""

    async def main() -> None:
        with coordkit.connect(server.url) as holder:
            held = [holder.lock(f"name-{i}") for i in range(4)]
            for lock in held:
                assert lock.acquire(timeout=DEADLINE)
            async with coordkit.aio.connect(server.url) as client:
                waiting = [client.lock(f"name-{i}") for i in range(4)]
                tasks = [asyncio.ensure_future(lock.acquire()) for lock in waiting]
                await until(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 4, "4 watches")
                assert server.metric("etcd_debugging_mvcc_watch_stream_total") == 1
                for i, lock in enumerate(held):
                    lock.release()
                    await asyncio.wait_for(tasks[i], DEADLINE)
                    assert [t.done() for t in tasks] == [j <= i for j in range(4)]
                    assert waiting[i].is_held
                    await waiting[i].release()
                assert client._ops._departures.streams_opened == 1  # type: ignore[attr-defined]

    arun(main())
