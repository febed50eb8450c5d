"""The async live configuration: ``cfg = await client.config("orders")`` (or ``async with``).

An :class:`AsyncConfig` is the sync :class:`coordkit.Config` of the same app on the client's
own session, seen from the loop: the values, layers (defaults, store, environment), schema
validation, snapshots and change batches are the sync package's, computed once (nothing is
written twice). Reads (``cfg["db/host"]``, :meth:`get_int`, :attr:`typed`, :meth:`snapshot`)
answer from the current snapshot at once. The config follows the store with the sync
follower: one watch and one thread per config, whatever the number of coroutines waiting
for changes.

Listeners may be plain functions or coroutine functions. Both run on the client's loop, in
change order: a plain function is called there; a coroutine listener's calls run as tasks of
the client, one after another per listener (a slow one delays its own next call, no other
listener). A failing listener is logged and the others still run. :meth:`aclose` (and
closing the client) cancels the listener tasks still running, and awaits them.

Writes (:meth:`set`, :meth:`delete`, :meth:`update`, :meth:`load`, :meth:`modify`,
:meth:`refresh`) have the sync semantics and errors, read-your-writes included: each holds a
thread of the client's for its round trips (bounded by the client's timeout; not the loop's
default executor, see :mod:`.threads`), not while waiting for anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..config import Config
from ..config.diff import ConfigDiff
from ..config.snapshot import ConfigChanges, ConfigSnapshot, TypedGetters
from ..config.values import Setting
from ..core.async_deadline import timeout_in
from ..core.durations import wait_seconds
from ..errors import ConfigValidationError
from .listeners import ListenerCalls
from .threads import blocking

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["AsyncConfig"]

log = logging.getLogger(__name__)
S = TypeVar("S")
T = TypeVar("T")
AsyncListener = Callable[[ConfigChanges], "Awaitable[None] | None"]


class AsyncConfig(TypedGetters, Mapping[str, Any], Generic[S]):
    """The live settings of one app for asyncio code (see the module docstring; the options,
    reads and write semantics are those of :class:`coordkit.Config`)."""

    def __init__(self, client: AsyncStore, config: Config[S]) -> None:
        self._client = client
        self._config = config
        self._loop = client.loop
        self._closed = False
        self._calls = ListenerCalls(client._spawn, f"config {config.app}")
        self._changed = asyncio.Event()
        config.on_change(self._from_follower(self._note_change))

    # --- life cycle ---------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop following and cancel the listener tasks still running (awaiting them); no
        listener is called after it returns. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._changed.set()  # wait_until() callers look once more, and end
        await blocking(self._config.close, name="coordkit-aio-config-close")  # joins the follower's thread
        await self._calls.aclose()

    async def __aenter__(self) -> AsyncConfig[S]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return repr(self._config).replace("<coordkit.Config", "<coordkit.aio.AsyncConfig", 1)

    # --- reading (the current snapshot, at once) -----------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._config[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._config)

    def __len__(self) -> int:
        return len(self._config)

    def __contains__(self, key: object) -> bool:
        return key in self._config

    def _state(self) -> ConfigSnapshot:
        return self._config.snapshot()

    def snapshot(self) -> ConfigSnapshot:
        """The current state, immutable and consistent (never half of a change)."""
        return self._config.snapshot()

    @property
    def app(self) -> str:
        return self._config.app

    @property
    def path(self) -> str:
        return self._config.path

    @property
    def version(self) -> int:
        return self._config.version

    @property
    def stale(self) -> bool:
        """As :attr:`coordkit.Config.stale`; True once closed."""
        return self._config.stale

    @property
    def typed(self) -> S:
        """The schema's typed view (see :attr:`coordkit.Config.typed`)."""
        return self._config.typed

    @property
    def error(self) -> ConfigValidationError | None:
        return self._config.error

    def source(self, key: str) -> str:
        return self._config.source(key)

    def explain(self, key: str | None = None) -> Setting | dict[str, Setting]:
        return self._config.explain(key)

    def export(self) -> dict[str, Any]:
        return self._config.export()

    # --- listening ------------------------------------------------------------------------
    def on_change(self, callback: AsyncListener | None = None, *, keys: Iterable[str] | None = None) -> Any:
        """``callback(changes)`` after each change batch (with ``keys``, of those keys only),
        on the loop; a coroutine function's calls run as tasks (see the module docstring).
        Usable as a decorator; returns the callback."""

        def register(fn: AsyncListener) -> AsyncListener:
            self._config.on_change(self._from_follower(functools.partial(self._deliver, fn)), keys=keys)
            return fn

        return register if callback is None else register(callback)

    def on_error(self, callback: Callable[[ConfigValidationError], Awaitable[None] | None]) -> Any:
        """``callback(error)`` when a change leaves the settings outside the schema, or a stored
        value is not JSON (see :meth:`coordkit.Config.on_error`); on the loop, as on_change's."""
        self._config.on_error(self._from_follower(functools.partial(self._deliver, callback)))
        return callback

    async def wait_until(
        self, predicate: Callable[[ConfigSnapshot], bool], timeout: float | None = None
    ) -> bool:
        """Wait (holding no thread) until ``predicate(snapshot)`` holds, checked now and after
        each change batch; False if ``timeout`` passed first or the config was closed."""
        try:
            async with timeout_in(wait_seconds(timeout)):
                while not predicate(self._config.snapshot()):
                    if self._closed:
                        return False
                    self._changed.clear()  # then look again: a change between is not lost
                    if predicate(self._config.snapshot()):
                        break
                    await self._changed.wait()
        except TimeoutError:
            return False
        return True

    def _from_follower(self, deliver: Callable[[Any], None]) -> Callable[[Any], None]:
        """A sync listener (run on the follower's thread) handing its argument to the loop."""

        def hand_over(argument: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
                self._loop.call_soon_threadsafe(deliver, argument)

        return hand_over

    def _note_change(self, _changes: ConfigChanges) -> None:
        self._changed.set()

    def _deliver(self, callback: Callable[[Any], Any], argument: Any) -> None:
        """On the loop: call ``callback`` (see :mod:`.listeners`), not once closed."""
        if not self._closed and not self._client.closed:
            self._calls.call(callback, argument)

    # --- writing (the sync semantics, see the module docstring) -----------------------------
    async def _run(self, call: Callable[[], T]) -> T:
        self._client._check()
        return await self._client._threads.run(call)

    async def refresh(self, timeout: float | None = None) -> ConfigSnapshot:
        """Read the store now (see :meth:`coordkit.Config.refresh`)."""
        return await self._run(lambda: self._config.refresh(timeout))

    async def set(self, key: str, value: Any, *, version: int | None = None) -> int:
        """Store ``value`` at ``key`` (see :meth:`coordkit.Config.set`); returns the revision
        once this config shows it."""
        return await self._run(lambda: self._config.set(key, value, version=version))

    async def delete(self, key: str, *, version: int | None = None) -> bool:
        return await self._run(lambda: self._config.delete(key, version=version))

    async def update(
        self, values: Mapping[str, Any], *, delete: Iterable[str] = (), expect: ConfigSnapshot | None = None
    ) -> int:
        """One atomic change (see :meth:`coordkit.Config.update`)."""
        deletes = list(delete)
        return await self._run(lambda: self._config.update(values, delete=deletes, expect=expect))

    async def load(
        self, values: Mapping[str, Any], *, prune: bool = False, dry_run: bool = False
    ) -> ConfigDiff:
        return await self._run(lambda: self._config.load(values, prune=prune, dry_run=dry_run))

    async def modify(
        self, change: Callable[[dict[str, Any]], Mapping[str, Any] | None], *, attempts: int = 5
    ) -> ConfigDiff:
        """Read-modify-write (see :meth:`coordkit.Config.modify`); ``change`` is a plain
        function, run off the loop."""
        return await self._run(lambda: self._config.modify(change, attempts=attempts))


class OpeningConfig(Generic[S]):
    """What ``client.config(...)`` returns: awaitable (the first read done), and an async
    context manager closing the config."""

    def __init__(self, client: AsyncStore, make: Callable[[], Config[S]]) -> None:
        self._client, self._make = client, make
        self._config: AsyncConfig[S] | None = None

    def __await__(self) -> Generator[Any, None, AsyncConfig[S]]:
        return self._open().__await__()

    async def _open(self) -> AsyncConfig[S]:
        client = self._client
        client._check()
        # The first read (retried within the client's timeout), as the sync constructor does it.
        config = await blocking(self._make, name="coordkit-aio-config-open", orphaned=Config.close)
        return AsyncConfig(client, config)

    async def __aenter__(self) -> AsyncConfig[S]:
        self._config = await self._open()
        return self._config

    async def __aexit__(self, *exc: object) -> None:
        if self._config is not None:
            await self._config.aclose()
