"""The async key/value and watch calls on every backend: the same results and errors as the
sync client's, on the same store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit import Check, Delete, Put
from coordkit.backends.base import EventType
from coordkit.core.async_deadline import timeout_in
from coordkit.errors import (
    ClosedError,
    InvalidNameError,
    KeyExistsError,
    OwnershipError,
    VersionConflictError,
    WrongLoopError,
)


def test_keys_match_the_sync_client(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            written = await aio.put("app/a", "1")
            assert written.version == 1 and written.value == b"1"
            assert await aio.get("app/a") == client.get("app/a")
            await aio.put("app/b/c", b"2")
            client.put("app/d", "3")
            assert await aio.children("app") == client.children("app") == ["a", "b", "d"]
            assert await aio.tree("app") == client.tree("app")
            assert [e.key for e in await aio.tree("app")] == ["/app/a", "/app/b/c", "/app/d"]
            assert await aio.get("missing") is None
            assert await aio.get_text("app/d") == "3"

            with pytest.raises(KeyExistsError):
                await aio.put("app/a", "x", create=True)
            with pytest.raises(VersionConflictError):
                await aio.put("app/a", "x", version=7)
            with pytest.raises(VersionConflictError):
                await aio.delete("app/a", version=7)
            with pytest.raises(InvalidNameError):
                await aio.get("bad/../name")
            assert (await aio.get("app/a")) == client.get("app/a")  # the failed writes changed nothing

            results = await aio.commit([Check("app/a", version=1), Put("app/e", b"5"), Delete("app/d")])
            assert results[1] is not None and results[1].value == b"5"
            assert client.get("app/d") is None and client.get_text("app/e") == "5"
            with pytest.raises(VersionConflictError):
                await aio.commit([Check("app/a", version=9), Put("app/f", b"6")])
            assert client.get("app/f") is None

            assert await aio.delete("app/a") is True
            assert await aio.delete("app/a") is False
            assert await aio.delete("app", recursive=True) is True
            assert client.tree("app") == []

    arun(main())


def test_concurrent_gets_all_answer(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    for i in range(20):
        client.put(f"many/{i}", str(i))

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            entries = await asyncio.gather(*(aio.get(f"many/{i % 20}") for i in range(500)))
            assert [e.text if e else None for e in entries] == [str(i % 20) for i in range(500)]

    arun(main())


def test_watch_is_an_async_iterator_in_store_order(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            async with await aio.watch("w", recursive=True) as events:
                client.put("w/x", "1")  # by another client, after the watch is in place
                first = await events.get(10)  # before x is deleted: ZooKeeper reads it after
                assert first is not None
                await aio.put("w/y", "2")
                client.delete("w/x")
                seen = [(first.type, first.key)]
                async with timeout_in(10):
                    async for event in events:
                        seen.append((event.type, event.key))
                        if len(seen) == 3:
                            break
            assert seen == [(EventType.PUT, "/w/x"), (EventType.PUT, "/w/y"), (EventType.DELETE, "/w/x")]
            assert events.cancelled and await events.get(0) is None

    arun(main())


def test_another_loop_or_thread_is_refused_not_hung(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            await aio.put("k", "v")
            errors: list[BaseException] = []

            def elsewhere() -> None:
                try:
                    asyncio.run(aio.get("k"))
                except BaseException as exc:  # noqa: BLE001 - the test inspects it
                    errors.append(exc)

            thread = threading.Thread(target=elsewhere)
            thread.start()
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)
            assert len(errors) == 1 and isinstance(errors[0], WrongLoopError), errors
            with pytest.raises(WrongLoopError):
                await asyncio.get_running_loop().run_in_executor(None, aio.lock, "x")
            assert (await aio.get("k")) is not None  # still fine on its own loop
        with pytest.raises(ClosedError):
            await aio.get("k")

    arun(main())


def test_fenced_put_with_an_async_lock(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            lock = aio.lock("fence")
            async with lock:
                assert lock.token is not None
                await aio.put("guarded", "1", fence=lock)
            with pytest.raises(OwnershipError):
                await aio.put("guarded", "2", fence=lock)
            assert client.get_text("guarded") == "1"

    arun(main())


def test_a_timeout_around_calls_cancels_them_and_the_client_goes_on(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    client.put("t", "1")

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            cut = 0
            for _ in range(20):  # an expired deadline cancels the calls in flight
                try:
                    async with timeout_in(0):
                        await asyncio.gather(*(aio.get("t") for _ in range(50)))
                except TimeoutError:
                    cut += 1
            assert cut == 20
            entry = await aio.get("t")
            assert entry is not None and entry.text == "1"
            assert "t" in await aio.children("/")

    arun(main())
