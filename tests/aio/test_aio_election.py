"""Async elections on every backend: leadership, campaign/resign, observe() as an async
iterator, a cancelled campaign that withdraws, and a sync candidate on the same queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.errors import OwnershipError


def test_leadership_observe_and_a_sync_rival(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    rival = client.election("chief")
    assert rival.campaign("sync-one")

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            election = aio.election("chief")
            assert await election.campaign("async-one", timeout=0.3) is False
            assert [c.value for c in client.election("chief").contenders()] in ([b"sync-one"], [b""])
            seen: list[str] = []

            async def observer() -> None:
                async for leader in aio.election("chief").observe(timeout=10):
                    seen.append(leader.proposal)
                    if leader.proposal == "async-two":
                        return

            watching = asyncio.ensure_future(observer())
            campaign = asyncio.ensure_future(election.campaign("async-one", timeout=10))
            loop = asyncio.get_running_loop()
            end = loop.time() + 10
            while len(rival.contenders()) < 2 or not seen:
                assert loop.time() < end, "the async candidate did not queue"
                await asyncio.sleep(0.02)
            await loop.run_in_executor(None, rival.resign)
            assert await campaign is True and election.is_leader
            assert (await election.leader()) is not None
            await election.proclaim("async-two")
            await asyncio.wait_for(watching, 10)
            # a burst of changes may reach an observer as its latest state only (as in the sync observe)
            assert seen[0] == "sync-one" and seen[-1] == "async-two"
            assert rival.leader() is not None and rival.leader().proposal == "async-two"  # type: ignore[union-attr]
            await election.resign()
            assert await election.leader() is None
            with pytest.raises(OwnershipError):
                await election.resign()

            async with election.leadership("ctx") as leading:
                assert leading.is_leader and leading.token is not None
            assert not election.is_leader and await election.leader() is None

    arun(main())


def test_cancelled_campaign_and_cancelled_leadership_withdraw(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    rival = client.election("seat")
    assert rival.campaign("sync")

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            election = aio.election("seat")
            task = asyncio.ensure_future(election.campaign("a"))
            loop = asyncio.get_running_loop()
            end = loop.time() + 10
            while len(rival.contenders()) < 2:
                assert loop.time() < end, "the async candidate did not queue"
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # A join whose answer was still on its way when the campaign was cancelled is
            # undone by a task of the client: the candidate withdraws, shortly.
            end = loop.time() + 10
            while [c.key for c in rival.contenders()] != [rival.key]:
                assert loop.time() < end, f"the cancelled candidate stayed: {rival.contenders()}"
                await asyncio.sleep(0.02)
            await loop.run_in_executor(None, rival.resign)

            entered = asyncio.Event()

            async def lead() -> None:
                async with election.leadership("b"):
                    entered.set()
                    await asyncio.Event().wait()

            leading = asyncio.ensure_future(lead())
            await entered.wait()
            leading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await leading
            assert rival.contenders() == [] and rival.leader() is None

    arun(main())
