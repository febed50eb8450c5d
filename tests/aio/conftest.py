"""Helpers of the asyncio tests: every test runs its coroutine on a fresh loop, over the
shared fixtures' real servers (memory, ZooKeeper, etcd), and fails on any warning that the
loop emits at close (a task destroyed while pending, an unclosed resource)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a new loop; fail on what asyncio reports at the loop's end."""
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


@pytest.fixture
def arun() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    return run
