"""Helpers of the asyncio tests: waiting on the loop for a state no event announces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import coordkit

__all__ = ["replace_session", "until"]


async def until(predicate: Callable[[], bool], what: str, deadline: float = 15.0) -> None:
    """Wait until ``predicate()`` holds, by ``deadline`` seconds, re-checking on the loop's
    schedule (the loop runs meanwhile)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not predicate():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def replace_session(store: coordkit.Client) -> None:
    """Declare the session of ``store`` (an async client's ``sync``) LOST and wait, on the
    loop, until the next one is CONNECTED."""
    generation = store.session.generation
    store.expire_session()
    await until(
        lambda: store.session.generation > generation and store.state is coordkit.SessionState.CONNECTED,
        "a new session",
    )
