"""Calling the listeners of the asyncio client: session listeners, config listeners.

A listener is a plain function or a coroutine function. Both are called on the client's loop,
in event order: a plain function there and then; a coroutine listener's calls run as tasks of
the client, one after another per listener (a slow one delays its own next call, no other
listener). A failing listener is logged and the others still run. :meth:`ListenerCalls.aclose`
(and closing the client) cancels the calls still running, and awaits them.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = ["ListenerCalls"]

log = logging.getLogger("coordkit.aio")


class ListenerCalls:
    """The calls of one owner's listeners: ``spawn`` starts a task the client owns (its
    ``_spawn``), ``what`` names the owner in log lines."""

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]], what: str) -> None:
        self._spawn, self._what = spawn, what
        self._chains: dict[int, asyncio.Task[None]] = {}  # listener id -> its latest call
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def call(self, callback: Callable[[Any], Any], argument: Any) -> None:
        """On the loop: call ``callback(argument)``; a coroutine it returns runs after its
        previous one. Nothing is called once closed."""
        if self._closed:
            return
        try:
            result = callback(argument)
        except Exception:
            log.exception("coordkit %s: listener %r failed", self._what, callback)
            return
        if inspect.isawaitable(result):
            previous = self._chains.get(id(callback))
            task = self._spawn(self._after(previous, result, callback))
            self._chains[id(callback)] = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._forget, id(callback)))

    async def _after(
        self, previous: asyncio.Task[None] | None, call: Awaitable[Any], callback: object
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])  # its outcome is its own: logged there
            await call
        except asyncio.CancelledError:
            if inspect.iscoroutine(call):
                call.close()  # cancelled before it started: no "never awaited" warning
            raise
        except Exception:
            log.exception("coordkit %s: listener %r failed", self._what, callback)

    def _forget(self, key: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._chains.get(key) is task:
            del self._chains[key]

    async def aclose(self) -> None:
        """Call nothing more; cancel the calls still running and await them. Idempotent."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
