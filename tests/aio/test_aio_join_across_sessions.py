"""As tests/faults/test_join_across_sessions.py, for the asyncio recipes: a join applied but not
answered while the session was being replaced, landing on the replacing session, is found by
the repeated join in that session, not doubled by a second contender of ours."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aio_helpers import replace_session, until

import coordkit
import coordkit.aio
from coordkit.backends.async_ops import Started
from coordkit.errors import BackendUnavailableError

DEADLINE = 10.0


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
            await replace_session(store)
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


def test_a_waiter_whose_session_was_replaced_joins_again_rather_than_keep_the_old_place(
    store_url: str,
    arun: Callable[..., Any],
    old_session_kept: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A waiter's contender belongs to the session it joined in. Its session replaced while the
    server still holds the old one (an etcd leader change renews leases; a ZooKeeper close that
    did not reach it), the waiter must not go on to be admitted on that old place: it would
    vanish when the old session expires, and the next contender would enter while this one
    believes it holds the lock. It joins again in the new session. The new session is held
    back until the waiter waits for it, as when a replacement takes a while."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url) as aio, coordkit.aio.connect(store_url) as other:
            holder, waiter = other.lock("l/replaced"), aio.lock("l/replaced")
            assert await holder.acquire(timeout=DEADLINE)
            waiting = asyncio.ensure_future(waiter.acquire(timeout=DEADLINE))
            queued: list[Any] = []

            async def two_queued() -> bool:
                queued[:] = await holder.contenders()
                return len(queued) == 2

            while not await two_queued():
                await asyncio.sleep(0.02)
            store, old = aio.sync, queued[1]
            session, backend = store.session, store.backend
            first, generation = session.session_id, session.generation
            opened, waited = threading.Event(), threading.Event()
            new_session, owns = backend.new_session, session.owns

            def held_back(timeout: float) -> Any:
                opened.wait(DEADLINE)
                return new_session(timeout)

            def watched(asked: int, **options: Any) -> bool:
                if session.state is coordkit.SessionState.LOST:
                    waited.set()  # the waiter asks while LOST: it waits for a session
                return bool(owns(asked, **options))

            monkeypatch.setattr(backend, "new_session", held_back)
            monkeypatch.setattr(session, "owns", watched)
            with old_session_kept(store):
                store.expire_session()
                await until(waited.is_set, "the waiter waiting for a session")
                opened.set()
                await until(
                    lambda: (
                        store.session.generation > generation
                        and store.state is coordkit.SessionState.CONNECTED
                    ),
                    "a new session",
                )
            await holder.release()
            assert await waiting
            entry = await other.get(waiter.key)
            assert waiter.key != old.key
            assert entry is not None and entry.lease == aio.session.session_id != first
            await waiter.release()

    arun(main())
