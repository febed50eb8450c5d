"""The async API behind the sync client's surface, so the conformance tests run over both.

:func:`facade_connect` opens a :class:`coordkit.aio.AsyncClient` on an event loop that runs
in one background thread (:class:`LoopThread`) and returns a :class:`Facade` of it: every
call is run on that loop (``asyncio.run_coroutine_threadsafe``) and waited for, so a test
written against ``coordkit.Client`` drives the async code paths unchanged. What a call
returns is wrapped by what it is: a coroutine is awaited, an async handle (anything of
``coordkit.aio``) becomes a facade itself, an async context manager a sync one, an async
iterator a sync iterator, an ``asyncio.Event`` a ``threading.Event``-like view. Attribute
reads run on the loop too (a handle's state belongs to its loop). Facades passed as
arguments (``put(..., fence=lock)``) are unwrapped first.

The async client has no ``close``: the facade's ``close`` is ``aclose``. A few names of the
core store that the async client exposes only through ``.sync`` (the backend, the session's
test hooks) are forwarded there, listed in :data:`CORE_NAMES`; anything else the async client
lacks raises AttributeError, so a test using a sync-only feature fails loudly rather than
quietly testing the sync client.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import coordkit.aio

__all__ = ["CORE_NAMES", "Facade", "LoopThread", "facade_connect"]

# Names a conformance test reads on the client that belong to the core store under both APIs.
CORE_NAMES = frozenset({"backend", "expire_session", "add_listener", "remove_listener", "url", "endpoints"})
_CALL_LIMIT = 120.0  # seconds: a hung coroutine fails the test instead of hanging it


class LoopThread:
    """An event loop running in a thread of its own, for the facades of one test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="facade-loop", daemon=True)
        self._thread.start()

    def on_loop(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Await ``coro`` on the loop and return its result (raising what it raised)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(_CALL_LIMIT)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the loop (at once if already there) and return its result."""
        if self.on_loop():
            return fn()

        async def in_loop() -> Any:
            return fn()

        return self.run(in_loop())

    def stop(self) -> None:
        async def drain() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        self.run(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_CALL_LIMIT)
        self.loop.close()


def facade_connect(runner: LoopThread, url: str, **options: Any) -> Facade:
    """A facade of ``await coordkit.aio.connect(url, **options)`` on ``runner``'s loop."""

    async def opening() -> coordkit.aio.AsyncClient:
        return await coordkit.aio.connect(url, **options)

    return Facade(runner, runner.run(opening()))


def _unwrap(value: Any) -> Any:
    return value._target if isinstance(value, Facade) else value


class Facade:
    """A sync view of one object of the async API (see the module docstring)."""

    def __init__(self, runner: LoopThread, target: Any) -> None:
        object.__setattr__(self, "_runner", runner)
        object.__setattr__(self, "_target", target)

    def __repr__(self) -> str:
        return f"<facade of {self._target!r}>"

    def _wrap(self, value: Any) -> Any:
        runner = self._runner
        if inspect.iscoroutine(value):
            return self._wrap(runner.run(value))
        if _is_ours(value) and hasattr(value, "__await__"):  # an Opening: awaited, or ``with``
            return _OpeningFacade(runner, value)
        if isinstance(value, asyncio.Event):
            return _EventView(runner, value)
        if inspect.isasyncgen(value) or hasattr(value, "__aenter__") or _is_ours(value):
            return Facade(runner, value)
        return value

    def __getattr__(self, name: str) -> Any:
        target = self._target
        if name == "close" and not hasattr(target, "close") and hasattr(target, "aclose"):
            name = "aclose"
        if isinstance(target, coordkit.aio.AsyncClient) and name in CORE_NAMES:
            return getattr(target.sync, name)
        value = self._runner.call(lambda: getattr(target, name))
        if callable(value) and not isinstance(value, type):
            return self._method(value)
        return self._wrap(value)

    def _method(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            args = tuple(_unwrap(a) for a in args)
            kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
            return self._wrap(self._runner.call(lambda: method(*args, **kwargs)))

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        self._runner.call(lambda: setattr(self._target, name, _unwrap(value)))

    # --- the protocols a sync test uses --------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        return self._wrap(self._runner.call(lambda: self._target[key]))

    def __len__(self) -> int:
        return int(self._runner.call(lambda: len(self._target)))

    def __contains__(self, key: object) -> bool:
        return bool(self._runner.call(lambda: key in self._target))

    def __enter__(self) -> Any:
        result = self._runner.run(self._target.__aenter__())
        return self if result is self._target else self._wrap(result)

    def __exit__(self, *exc: Any) -> Any:
        return self._runner.run(self._target.__aexit__(*exc))

    def __iter__(self) -> Any:
        target = self._target
        if hasattr(target, "__anext__"):
            return self
        if hasattr(target, "__aiter__"):
            return Facade(self._runner, self._runner.call(target.__aiter__))
        return iter(self._runner.call(lambda: list(target)))  # a mapping (a config)

    def __next__(self) -> Any:
        iterator: AsyncIterator[Any] = self._target
        try:
            return self._wrap(self._runner.run(iterator.__anext__()))
        except StopAsyncIteration:
            raise StopIteration from None


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class _OpeningFacade:
    """What ``client.register(...)`` or ``client.config(...)`` returns: opened on first use, as
    ``await`` would, or by ``with`` as ``async with`` would (closed on exit)."""

    def __init__(self, runner: LoopThread, opening: Any) -> None:
        self._runner, self._opening = runner, opening
        self._opened: Facade | None = None

    def _open(self) -> Facade:
        if self._opened is None:
            self._opened = Facade(self._runner, self._runner.run(_awaited(self._opening)))
        return self._opened

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)

    def __enter__(self) -> Facade:
        self._opened = Facade(self._runner, self._runner.run(self._opening.__aenter__()))
        return self._opened

    def __exit__(self, *exc: Any) -> Any:
        return self._runner.run(self._opening.__aexit__(*exc))


def _is_ours(value: Any) -> bool:
    return type(value).__module__.startswith("coordkit.aio")


class _EventView:
    """``is_set()`` and ``wait(timeout)`` of an asyncio.Event, from any thread."""

    def __init__(self, runner: LoopThread, event: asyncio.Event) -> None:
        self._runner, self._event = runner, event

    def is_set(self) -> bool:
        return bool(self._runner.call(self._event.is_set))

    def wait(self, timeout: float | None = None) -> bool:
        async def waiting() -> bool:
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                return False
            return True

        return bool(self._runner.run(waiting()))
