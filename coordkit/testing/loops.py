"""Running a test's coroutine on a loop of its own, failing on what asyncio reports at its end."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a new loop; fail on a task left pending, an unclosed resource
    (ResourceWarning) or anything the loop's exception handler was told (a task destroyed
    while pending, an exception never retrieved)."""
    reported: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            result = loop.run_until_complete(coro)
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            assert not pending, f"tasks left pending: {pending}"
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        gc.collect()  # "Task was destroyed but it is pending" is reported when a task is collected
    assert not reported, f"the loop reported: {reported}"
    return result
