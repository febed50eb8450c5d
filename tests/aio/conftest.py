"""Helpers of the asyncio tests: every test runs its coroutine on a fresh loop, over the
shared fixtures' real servers (memory, ZooKeeper, etcd), and fails on any warning that the
loop emits at close (a task destroyed while pending, an unclosed resource)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from coordkit.testing.loops import run


@pytest.fixture
def arun() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    return run
