"""Session listeners of the asyncio client (``client.add_listener``), on every backend: called on
the client's loop in state order, coroutine listeners one call after another, a failing one
logged without stopping the others, CLOSED delivered when the client closes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import coordkit.aio
from coordkit import SessionEvent, SessionState
from coordkit.core.async_deadline import timeout_in
from coordkit.errors import WrongLoopError

DEADLINE = 20.0


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def url(request: pytest.FixtureRequest) -> str:
    name = f"listeners-{threading.get_ident()}-{id(request)}"
    if request.param == "memory":
        return f"memory://{name}"
    return f"{request.getfixturevalue(f'{request.param}_server').url}/{name}"


def test_listeners_follow_the_session_on_the_loop_in_order(url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        plain: list[SessionState] = []
        slow: list[tuple[str, SessionState]] = []
        threads: set[int] = set()
        reconnected, slow_done = asyncio.Event(), asyncio.Event()

        def on_plain(event: SessionEvent) -> None:
            threads.add(threading.get_ident())
            plain.append(event.state)
            if event.state is SessionState.CONNECTED:
                reconnected.set()

        async def on_slow(event: SessionEvent) -> None:
            slow.append(("start", event.state))
            await asyncio.sleep(0.05)  # a slow listener: its next call waits for this one
            slow.append(("end", event.state))
            if event.state is SessionState.CONNECTED:
                slow_done.set()

        def failing(event: SessionEvent) -> None:
            raise RuntimeError("a listener's own bug")

        client = await coordkit.aio.connect(url, ttl=4)
        try:
            for listener in (failing, on_plain, on_slow):
                client.add_listener(listener)
            await asyncio.to_thread(client.sync.expire_session)  # LOST, then a new session
            async with timeout_in(DEADLINE):
                await reconnected.wait()
                await slow_done.wait()  # the slow listener's two calls ran their course
        finally:
            await client.aclose()
        assert plain == [SessionState.LOST, SessionState.CONNECTED, SessionState.CLOSED]
        assert threads == {threading.get_ident()}  # the loop's thread, never the session's
        assert slow[:4] == [
            ("start", SessionState.LOST),
            ("end", SessionState.LOST),
            ("start", SessionState.CONNECTED),
            ("end", SessionState.CONNECTED),
        ]

    arun(main())


def test_a_removed_listener_is_not_called_and_another_loop_is_refused(
    url: str, arun: Callable[..., Any]
) -> None:
    seen: list[SessionState] = []

    def listener(event: SessionEvent) -> None:
        seen.append(event.state)

    async def main() -> coordkit.aio.AsyncClient:
        client = await coordkit.aio.connect(url, ttl=4)
        client.add_listener(listener)
        client.remove_listener(listener)
        client.remove_listener(listener)  # never added (any more): ignored
        return client

    client = arun(main())
    try:
        with pytest.raises(WrongLoopError):
            client.add_listener(listener)  # no running loop here: the client's loop is gone
        assert seen == []
    finally:  # aclose() needs the client's loop, which is gone: end the store under it
        client.sync.close()
