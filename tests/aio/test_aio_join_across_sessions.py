"""As tests/faults/test_join_across_sessions.py, for the asyncio recipes: a join applied but not
answered while the session was being replaced, landing on the replacing session, is found by
the repeated join in that session, not doubled by a second contender of ours."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.backends.async_ops import Started
from coordkit.errors import BackendUnavailableError

DEADLINE = 10.0


async def _until(predicate: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not predicate():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _landing_on_the_next_session(aio: Any) -> list[str]:
    """Wrap the client's join once: replace the session, join in the new one, then report the
    reply lost. Returns the attempts it saw."""
    ops, store = aio._ops, aio.sync
    original, attempts = ops.start_queue_join, []

    def landed_then_lost(path: str, value: bytes, *, unique: bool, attempt: str, spawn: Any) -> Any:
        attempts.append(attempt)
        if len(attempts) > 1:
            return original(path, value, unique=unique, attempt=attempt, spawn=spawn)

        async def replaced_then_joined() -> Any:
            generation = store.session.generation
            store.expire_session()
            await _until(
                lambda: (
                    store.session.generation > generation and store.state is coordkit.SessionState.CONNECTED
                ),
                "a new session",
            )
            await original(path, value, unique=unique, attempt=attempt, spawn=spawn).answer
            raise BackendUnavailableError("the reply was lost")

        task = spawn(replaced_then_joined())
        return Started(asyncio.ensure_future(task), lambda: task)

    ops.start_queue_join = landed_then_lost
    return attempts


@pytest.mark.parametrize("recipe", ["semaphore", "lock"])
def test_a_join_that_landed_on_the_replacing_session_is_found_not_doubled(
    store_url: str, arun: Callable[..., Any], recipe: str
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url) as aio, coordkit.aio.connect(store_url) as other:
            attempts = _landing_on_the_next_session(aio)
            handle = aio.semaphore("s/landed", 1) if recipe == "semaphore" else aio.lock("l/landed")
            assert await handle.acquire(timeout=DEADLINE)
            assert len(attempts) == 2 and attempts[0] == attempts[1]  # the same join, repeated
            contenders = await handle.contenders()
            assert len(contenders) == 1, contenders  # ours, once
            entry = await other.get(contenders[0].key)
            assert entry is not None and entry.lease == aio.session.session_id
            await handle.release()
            assert await handle.contenders() == []

    arun(main())
