"""The core of an asyncio client: one store's keys, watches and session, on one event loop.

An :class:`AsyncStore` stands on the same core as the sync client: one
:class:`~coordkit.core.store.Store` (URL, backend, the session with its heartbeat and its
ownership deadline, name validation) that it owns. Calls go through the backend's async
adapter (:mod:`coordkit.backends.aio`): reads are sent as the backend library's asynchronous
requests, and no coroutine holds a thread while it waits for a lock, a leadership or a watch
event. Session events reach the loop through one listener (``call_soon_threadsafe``) and fan
out there to the handles that care.

One store belongs to the event loop it was opened in: using it from another loop or thread
raises :class:`~coordkit.errors.WrongLoopError` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..backends.aio import AsyncOps, async_ops
from ..backends.base import Check, Entry, Op, Put, Watch
from ..core.commits import checked_ops
from ..core.session import Session
from ..core.states import SessionEvent, SessionState
from ..core.store import Fence, Store, Value
from ..errors import (
    BackendUnavailableError,
    ClosedError,
    ConfigurationError,
    ConflictError,
    OwnershipError,
    WrongLoopError,
)
from ..names import validate_name, validate_path, validate_value, validate_version
from .listeners import ListenerCalls
from .threads import CallThreads, blocking
from .turns import NameTurn
from .watch import AsyncWatch

__all__ = ["AsyncStore"]

log = logging.getLogger("coordkit.aio")
T = TypeVar("T")
S = TypeVar("S", bound="AsyncStore")
Listener = Callable[[SessionEvent], None]
UserListener = Callable[[SessionEvent], Awaitable[None] | None]

_FIRST_RETRY = 0.02  # seconds before repeating a read after an outage; doubles up to 0.5


class AsyncStore:
    """The key/value surface of an asyncio client, its session and the plumbing its handles use
    (see the module docstring); :class:`~coordkit.aio.AsyncClient` adds the recipes."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._ops: AsyncOps = async_ops(store.backend, loop)
        self._listeners: list[Listener] = []  # this package's handles
        self._user_listeners: list[UserListener] = []
        self._listener_calls = ListenerCalls(self._spawn, "session listener")
        self._closed_told = False
        self._guards: dict[str, NameTurn] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watches: set[AsyncWatch] = set()
        self._threads = CallThreads()  # for the few blocking calls (see .threads)
        self._closed = False
        store.session.add_listener(self._from_session)

    # --- loop discipline and plumbing (for this package's handles) ---------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _check(self) -> None:
        """Raise WrongLoopError outside this client's loop, ClosedError once closed."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:
            raise WrongLoopError(
                "this coordkit.aio client belongs to another event loop (or was called from a thread "
                "without it): connect one client per event loop"
            )
        if self._closed:
            raise ClosedError("the coordkit.aio client is closed; connect again")

    def _from_session(self, event: SessionEvent) -> None:
        # On the session's dispatcher thread; a closed loop means no handle waits any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._dispatch, event)

    def _dispatch(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("coordkit.aio session listener failed")
        if event.state is SessionState.CLOSED:  # the session's own and aclose()'s: told once
            if self._closed_told:
                return
            self._closed_told = True
        for user_listener in list(self._user_listeners):
            self._listener_calls.call(user_listener, event)

    def add_listener(self, listener: UserListener) -> None:
        """Call ``listener(event)`` (a :class:`~coordkit.SessionEvent`) on this client's loop at
        every session state change, in order: SUSPENDED, CONNECTED, LOST, and CLOSED when the
        client closes. A coroutine function's calls run as tasks of the client, one after
        another (:mod:`.listeners`); closing the client cancels those still running. A
        listener that raises is logged and stays registered."""
        self._check()
        self._user_listeners.append(listener)

    def remove_listener(self, listener: UserListener) -> None:
        """Stop calling ``listener`` (a listener never added is ignored)."""
        self._check()
        if listener in self._user_listeners:
            self._user_listeners.remove(listener)

    def _listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _guard(self, key: str) -> NameTurn:
        """The turn on recipe name ``key``: this client's handles of one name take it (first
        come, first served) before one of them queues in the store, and so does a sync recipe
        built on :attr:`sync` (see :mod:`.turns`)."""
        canonical = self._store.backend.canonical(key)
        turn = self._guards.get(canonical)
        if turn is None:
            turn = self._guards[canonical] = NameTurn(self._store.local_guard(key))
        return turn

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A background task the client owns: cancelled and awaited by :meth:`aclose`."""
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _call(self, make: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Run one call; an idempotent one is repeated after BackendUnavailableError within the
        operation timeout (the sync client's default policy, with the loop's clock)."""
        self._check()
        self._store.session.ensure_usable()
        if not idempotent:
            return await make()
        deadline, pause = self._loop.time() + self._store.timeout, _FIRST_RETRY
        while True:
            try:
                return await make()
            except BackendUnavailableError:
                if self._loop.time() + pause >= deadline:
                    raise
            await asyncio.sleep(pause)  # back-off before the next try, not a wait for an event
            pause = min(pause * 2, 0.5)

    # --- the client itself ---------------------------------------------------------------
    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the client's background tasks and watches, end the session (its ephemeral
        keys vanish at once) and release every resource. Idempotent; bounded in time."""
        if self._closed:
            return
        self._check()
        self._closed = True  # new calls are refused from here on
        session = self._store.session
        previous = session.state
        try:
            await blocking(self._store.close, name="coordkit-aio-close")  # bounded by the store
        finally:
            self._threads.close()
            session.remove_listener(self._from_session)
            # Waiters and holders hear of it now (waiters then raise ClosedError), whether or not
            # the session's own CLOSED event has reached the loop yet.
            self._dispatch(
                SessionEvent(
                    SessionState.CLOSED, previous, session.session_id, session.generation, "client closed"
                )
            )
            for watch in list(self._watches):
                watch.cancel()
            await asyncio.sleep(0)  # let the woken waiters run to their end first
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._ops.aclose()

    def __repr__(self) -> str:
        return f"<coordkit.aio.{type(self).__name__} {self._store.url} {self._store.session.state.value}>"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def sync(self) -> Store:
        """The core store under this client (the same session): for what has no async form yet.
        A lock or election built on it by hand (``coordkit.Lock(client.sync, name)``) takes
        turns with this client's async handles of the same name, as one session holds one
        contender per name; an async handle waiting for such a sync holder retries every few
        milliseconds, and no order is kept between the two kinds of waiter (see
        :mod:`coordkit.aio.turns`). Call such a recipe from a worker thread, never on the loop:
        blocking the loop while an async handle holds the name would wait forever."""
        return self._store

    @property
    def session(self) -> Session:
        return self._store.session

    @property
    def state(self) -> SessionState:
        return self._store.session.state

    @property
    def kind(self) -> str:
        return self._store.kind

    @property
    def namespace(self) -> str:
        return self._store.namespace

    @property
    def timeout(self) -> float:
        return self._store.timeout

    # --- keys (semantics and errors of coordkit.core.store.Store) ------------------------------
    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None (see :meth:`coordkit.Client.get`)."""
        key = validate_name(key, "key")
        return await self._call(lambda: self._ops.get(key), idempotent=True)

    async def get_text(self, key: str, default: str | None = None) -> str | None:
        entry = await self.get(key)
        return default if entry is None else entry.text

    async def put(
        self,
        key: str,
        value: Value,
        *,
        ephemeral: bool = False,
        version: int | None = None,
        create: bool = False,
        fence: Fence | None = None,
    ) -> Entry:
        """Write ``key`` (see :meth:`coordkit.Client.put`): the same conditions, fencing, retries
        (only a plain put is repeated) and errors."""
        if create and version is not None:
            raise ConfigurationError("put() takes create=True or version=N, not both")
        op = Put(
            validate_name(key, "key"), validate_value(value), validate_version(version), create, ephemeral
        )
        if fence is not None:
            return await self._fenced_put(op, fence)
        return await self._call(lambda: self._ops.put(op), idempotent=version is None and not create)

    async def _fenced_put(self, op: Put, fence: Fence) -> Entry:
        fence_key, token = fence.fence_check()
        try:
            result = await self._call(
                lambda: self._ops.commit([Check(fence_key, create_revision=token), op]), idempotent=False
            )
        except ConflictError:
            holder = await self._call(lambda: self._ops.get(fence_key), idempotent=True)
            if holder is None or holder.create_revision != token:
                refused = getattr(fence, "fence_refused", None)
                if callable(refused):
                    refused(token)  # the store's answer ends that holding now, as the sync client's
                raise OwnershipError(
                    f"write to {op.key} refused: the fence {fence_key} (token {token}) is no longer held"
                ) from None
            raise
        entry = result[1]
        assert entry is not None
        return entry

    async def delete(self, key: str, *, version: int | None = None, recursive: bool = False) -> bool:
        """Delete ``key`` (see :meth:`coordkit.Client.delete`); False if nothing was there."""
        key = validate_name(key, "key")
        validate_version(version)
        if version is not None and recursive:
            raise ConfigurationError("delete() takes version or recursive, not both")
        return await self._call(
            lambda: self._ops.delete(key, version=version, recursive=recursive), idempotent=version is None
        )

    async def children(self, path: str = "/") -> list[str]:
        """Sorted names of the immediate children of ``path``."""
        path = validate_path(path)
        return await self._call(lambda: self._ops.children(path), idempotent=True)

    async def tree(self, path: str = "/") -> list[Entry]:
        """Every entry strictly below ``path``, sorted by key, as one consistent read."""
        path = validate_path(path)
        return (await self._call(lambda: self._ops.tree(path), idempotent=True))[0]

    async def commit(self, ops: list[Op]) -> list[Entry | None]:
        """Apply ``ops`` atomically (see :meth:`coordkit.Client.commit`); never repeated."""
        checked = checked_ops(ops, self._store.namespace)
        return await self._call(lambda: self._ops.commit(checked), idempotent=False)

    async def watch(
        self, key_or_path: str, *, recursive: bool = False, start_revision: int | None = None
    ) -> AsyncWatch:
        """Watch one key, or with ``recursive`` every key strictly below a path: ``async for
        event in watch``. In place when this returns (every later change is delivered); the
        events, their order and the reconnect behaviour are those of
        :meth:`coordkit.Client.watch`. Cancel it (or ``async with``) to stop."""
        key = validate_path(key_or_path) if recursive else validate_name(key_or_path, "key")
        validate_version(start_revision, "start_revision")
        self._check()
        self._store.session.ensure_usable()
        watch = AsyncWatch(self._loop, self._watches.discard)
        starting = self._spawn(
            self._ops.watch(key, watch.deliver, prefix=recursive, start_revision=start_revision)
        )
        try:
            watch.handle = await asyncio.shield(starting)
        except asyncio.CancelledError:  # the start goes on: stop the watch once it is in place
            starting.add_done_callback(_cancel_started)
            raise
        self._watches.add(watch)
        return watch


def _cancel_started(starting: asyncio.Task[Watch]) -> None:
    if not starting.cancelled() and starting.exception() is None:
        starting.result().cancel_nowait()
