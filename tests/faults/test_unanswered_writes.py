"""A cancelled async acquire whose join was applied but never answered: the contender it made
must go as soon as the session is back, not stay queued until the session ends (where it
would make every other client wait behind it, and take a permit of a semaphore).

On real servers, through a FaultProxy that lets the join's request through and holds every
reply: the store applies the join, the client hears nothing, the call ends unconfirmed. The
memory adapter joins inline, so its join has no such moment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.core.async_deadline import timeout_in
from coordkit.testing.proxy import FaultProxy

DEADLINE = 8.0  # well under the session's TTL: what goes by then was removed, not expired
TTL = 10.0  # the test ZooKeeper grants at most 10 s


def _handle(client: Any, recipe: str) -> Any:
    return client.lock("c") if recipe == "lock" else client.semaphore("c", 1)


async def _eventually(predicate: Callable[[], bool], what: str) -> None:
    """By the deadline, re-checking on the loop's schedule (another client's view: no event)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not await loop.run_in_executor(None, predicate):
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("recipe", ["lock", "semaphore"])
@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_a_cancelled_join_that_landed_unanswered_is_removed_once_answers_flow(
    kind: str, recipe: str, request: pytest.FixtureRequest, arun: Callable[..., Any]
) -> None:
    server = request.getfixturevalue(f"{kind}_server")
    namespace = f"/cu-{uuid.uuid4().hex[:10]}"
    with (
        FaultProxy(server.endpoints) as proxy,
        coordkit.connect(f"{server.url}{namespace}", ttl=TTL) as direct,
    ):
        holder = _handle(direct, recipe)
        assert holder.acquire(timeout=DEADLINE)

        def queued() -> int:
            return len(direct.lock("c").contenders())

        async def main() -> None:
            async with coordkit.aio.connect(proxy.url(kind, namespace), ttl=TTL, timeout=1.0) as aio:
                session = aio.sync.session
                generation, session_id = session.generation, session.session_id
                handle = _handle(aio, recipe)
                await aio.get("c")  # the channel is up (a new one would wait for the server's reply)
                proxy.hold_replies()
                acquiring = asyncio.ensure_future(handle.acquire(timeout=DEADLINE * 2))
                await _eventually(lambda: queued() == 2, "the join to be applied")
                acquiring.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await acquiring
                async with timeout_in(DEADLINE):  # the join ends unconfirmed: no reply came
                    await asyncio.gather(*aio._tasks)
                assert queued() == 2
                proxy.heal()
                await _eventually(lambda: queued() == 1, "the unconfirmed contender to be removed")
                assert [c.key for c in direct.lock("c").contenders()] == [holder.key]
                # by this session, not by its end
                assert (session.generation, session.session_id) == (generation, session_id)
                # and the client's turn on the name was handed on: another handle queues and enters
                second = _handle(aio, recipe)
                entering = asyncio.ensure_future(second.acquire(timeout=DEADLINE))
                await _eventually(lambda: queued() == 2, "the second handle to queue")
                await asyncio.get_running_loop().run_in_executor(None, holder.release)
                assert await entering is True
                assert [c.key for c in direct.lock("c").contenders()] == [second.key]
                await second.release()

        arun(main())
