"""Deadlines for asyncio code: ``asyncio.timeout_at`` on every supported Python (3.11 has it; 3.10
gets a small equivalent)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

__all__ = ["timeout_at", "timeout_in"]


@contextlib.asynccontextmanager
async def _timeout_at_310(deadline: float | None) -> AsyncIterator[None]:
    # Python 3.10: cancel the task at the deadline and turn that cancellation into TimeoutError.
    if deadline is None:
        yield
        return
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    handle = loop.call_at(deadline, expire)
    try:
        yield
    except asyncio.CancelledError:
        if fired:
            raise TimeoutError from None
        raise
    finally:
        handle.cancel()


def timeout_at(deadline: float | None) -> contextlib.AbstractAsyncContextManager[object]:
    """Raise TimeoutError in the block at ``deadline`` (the loop's clock), None: never."""
    if sys.version_info >= (3, 11):
        return asyncio.timeout_at(deadline)
    return _timeout_at_310(deadline)


def timeout_in(seconds: float | None) -> contextlib.AbstractAsyncContextManager[object]:
    """Raise TimeoutError in the block after ``seconds``, None: never."""
    if seconds is None:
        return timeout_at(None)
    return timeout_at(asyncio.get_running_loop().time() + seconds)
