"""The async API's blocking steps (opening a session, closing it, a config's first read, writes
and close, a one-off discovery read) do not queue on the loop's default executor, which is the
application's: with every one of its threads busy, they neither wait nor deadlock (on every
backend)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import coordkit.aio
from coordkit.core.states import SessionState
from coordkit.testing import eventually

BOUND = 15.0  # seconds: a step queued behind the busy executor would wait for it (60 s)


def test_the_async_client_does_not_queue_behind_a_busy_default_executor(
    store_url: str, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        busy, free = ThreadPoolExecutor(max_workers=1), threading.Event()
        loop.set_default_executor(busy)
        taken = loop.run_in_executor(None, free.wait, 60)  # its one thread, held by the application
        try:
            client = await asyncio.wait_for(coordkit.aio.connect(store_url, ttl=4), BOUND)
            config = await asyncio.wait_for(client.config("busy", writable=True), BOUND)
            await asyncio.wait_for(config.set("workers", 3), BOUND)
            assert config["workers"] == 3
            assert await asyncio.wait_for(client.instances("payments"), BOUND) == []
            await asyncio.wait_for(config.aclose(), BOUND)
            await asyncio.wait_for(client.aclose(), BOUND)
            assert not taken.done()  # the executor stayed busy throughout
            ours = [t for t in threading.enumerate() if t.name.startswith("coordkit-aio_")]  # CallThreads
            for thread in ours:  # the client's call threads end with it
                thread.join(BOUND)
            assert not [t for t in ours if t.is_alive()]
        finally:
            free.set()
            await taken
            busy.shutdown()

    arun(main())


def test_a_connect_cancelled_while_opening_closes_the_session_it_opened(
    store_url: str, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        opened: list[coordkit.Client] = []
        opening, may_end = threading.Event(), threading.Event()

        def open_store() -> coordkit.Client:
            opening.set()
            assert may_end.wait(BOUND)
            opened.append(coordkit.connect(store_url, ttl=4))
            return opened[0]

        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(coordkit.aio.client._Connecting(open_store)._open())
        assert await loop.run_in_executor(None, opening.wait, BOUND)
        task.cancel()  # while the session is being opened
        done, _ = await asyncio.wait({task}, timeout=BOUND)
        assert done and task.cancelled()
        may_end.set()
        await loop.run_in_executor(
            None, lambda: eventually(lambda: opened and opened[0].session.state is SessionState.CLOSED)
        )

    arun(main())
