"""Registering a service instance from asyncio code: ``async with client.register(...)``.

The sync registry's key, value formats (Curator JSON on ZooKeeper, etcd's endpoints JSON),
checks and lifecycle (:mod:`coordkit.discovery.registry`), awaited: one ephemeral key owned by
the client's session, removed on :meth:`AsyncRegistration.deregister` or when the client
closes, written again exactly once in each new session after a LOST one (by a task of the
client, not a thread). A ``register()`` that is cancelled leaves no instance: a write already
sent is finished and its key removed at once by a task of the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_delay
from tenacity.stop import stop_base

from ..backends.base import Check, Delete, Entry, Op, Put
from ..core.retry import PATIENT, QUICK
from ..core.states import SessionEvent, SessionState
from ..discovery._checks import check_metadata, check_status, check_weight
from ..discovery.formats import FormatError, format_for
from ..discovery.instance import DOWN, DRAINING, UP, ServiceInstance
from ..discovery.leftovers import holding, incarnation, of_an_earlier_session, remove_if_left
from ..discovery.registry import _TRANSIENT, _Vanished
from ..errors import BackendUnavailableError, ClosedError, ConflictError, CoordkitError, KeyExistsError

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["AsyncRegistration", "register"]

log = logging.getLogger("coordkit.aio")


class AsyncRegistration:
    """One registered instance of a service, owned by an asyncio client's session: what
    ``await client.register(name, address, port, ...)`` returns once the instance is in the
    store (or ``async with client.register(...) as reg``, which deregisters on exit).

    The options, errors and states are those of :class:`coordkit.Registration`: ConfigurationError
    for a bad argument, KeyExistsError if another session registered this service with the same
    id, BackendUnavailableError if the store cannot be reached within the client's timeout (then
    nothing stays registered: a write the store applied unanswered is removed as soon as the
    session is back, as it is when ``register()`` is cancelled).
    """

    def __init__(self, client: AsyncStore, key: str, instance: ServiceInstance) -> None:
        self._client = client
        self._format = format_for(client.sync.backend.capabilities.layout)
        self.key = key
        self._instance = instance
        self._writing = asyncio.Lock()  # one write at a time: register, update, deregister
        self._entry: Entry | None = None  # what this registration last wrote
        self._sessions: set[tuple[int, bytes]] = set()  # (session, value) of its unanswered creates
        self._generation = 0  # the session generation that _entry was written in
        self._scheduled = 0  # the latest generation a re-registration was started for
        self._closed = False
        self._tried: bytes | None = None  # what the last create sent, if it may have made the key
        self._over = False  # this register() found the session's key and wrote over it

    def __repr__(self) -> str:
        state = "deregistered" if self._closed else "registered" if self.registered else "re-registering"
        return f"<coordkit.aio.AsyncRegistration {self.key} {self._instance.endpoint} {state}>"

    @property
    def instance(self) -> ServiceInstance:
        """The instance as registered (after the latest :meth:`update`)."""
        return self._instance

    @property
    def name(self) -> str:
        return self._instance.name

    @property
    def id(self) -> str:
        return self._instance.id

    @property
    def registered(self) -> bool:
        """As :attr:`coordkit.Registration.registered`: the key is believed in the store for the
        current session, by the session's ownership deadline."""
        return (
            not self._closed
            and self._entry is not None
            and self._client.session.owns(self._generation, while_suspended=True)
        )

    # --- changes ---------------------------------------------------------------------------
    async def drain(self, reason: str = "") -> ServiceInstance:
        """Status ``draining``: out of traffic, registered still (as the sync ``drain``)."""
        return await self.update(status=DRAINING, reason=reason)

    async def up(self) -> ServiceInstance:
        """Status ``up``: back in traffic."""
        return await self.update(status=UP)

    async def down(self, reason: str = "") -> ServiceInstance:
        """Status ``down``: failing its checks."""
        return await self.update(status=DOWN, reason=reason)

    async def update(
        self,
        *,
        metadata: Mapping[str, str] | None = None,
        weight: int | None = None,
        status: str | None = None,
        reason: str = "",
    ) -> ServiceInstance:
        """Replace metadata, weight and/or status in place (see :meth:`coordkit.Registration.update`):
        returns once the store holds the new value; while the session is being replaced the new
        value is kept for the re-registration. Raises ConfigurationError, ClosedError after
        deregister(), BackendUnavailableError (the store holds the previous value or, if the
        write landed unanswered, the new one)."""
        changes: dict[str, Any] = {}
        if metadata is not None:
            changes["metadata"] = check_metadata(metadata)
        if weight is not None:
            changes["weight"] = check_weight(weight)
        if status is not None:
            changes["status"], changes["status_reason"] = check_status(status, "" if status == UP else reason)
        async with self._writing:
            if self._closed:
                raise ClosedError(f"{self.key} was deregistered; register it again to change it")
            if status is None:
                await self._adopt_status()  # an operator's status stands through the owner's changes
            self._instance = replace(self._instance, **changes)
            if self._entry is not None and self._generation == self._client.session.generation:
                await self._retrying(self._rewrite, stop_after_delay(self._client.timeout))
            return self._instance

    async def _adopt_status(self) -> None:
        """Take over a status another process (``coordkit maint``) wrote over this key."""
        entry, found = self._entry, await self._client.get(self.key)
        if entry is None or found is None:
            return
        try:
            stored = self._format.decode(self.name, self.id, found.value)
        except FormatError:
            return
        wrote = self._format.decode(self.name, self.id, entry.value)
        if (stored.status, stored.status_reason) != (wrote.status, wrote.status_reason):
            self._instance = replace(self._instance, status=stored.status, status_reason=stored.status_reason)

    async def deregister(self) -> None:
        """Remove the instance now (if the key is still this registration's) and stop
        re-registering it. Idempotent. Raises BackendUnavailableError if the store cannot be
        reached within the client's timeout: the key is then removed once the session is back
        (or goes with the session)."""
        if self._closed:
            return
        self._closed = True
        self._client._unlisten(self._on_session)
        async with self._writing:
            entry, self._entry = self._entry, None
        if entry is None or self._client.closed or self._client.state is SessionState.CLOSED:
            return
        remove: list[Op] = [Check(self.key, create_revision=entry.create_revision), Delete(self.key)]
        # Already gone, or replaced by somebody else's registration: not ours to delete.
        with contextlib.suppress(ConflictError, ClosedError):
            try:
                await self._retrying(
                    lambda: self._client.commit(list(remove)), stop_after_delay(self._client.timeout)
                )
            except BackendUnavailableError:
                remove_if_left(
                    self._client.sync, self.key, incarnation(self._format, self.name, self.id, entry)
                )
                raise

    async def aclose(self) -> None:
        """The same as :meth:`deregister` (what leaving ``async with`` calls)."""
        await self.deregister()

    # --- writing ---------------------------------------------------------------------------
    async def _retrying(
        self, fn: Callable[[], Awaitable[Any]], stop: stop_base | Any, wait: Any = QUICK
    ) -> Any:
        retrying = AsyncRetrying(
            stop=stop, wait=wait, retry=retry_if_exception_type((*_TRANSIENT, _Vanished)), reraise=True
        )

        async def attempt() -> Any:  # a coroutine function: what tenacity awaits
            return await fn()

        return await retrying(attempt)

    async def _register(self) -> None:
        """The first write (see :func:`register`); listens for new sessions from here on."""
        self._client._listen(self._on_session)
        try:
            async with self._writing:
                try:
                    await self._retrying(self._write, stop_after_delay(self._client.timeout))
                except BackendUnavailableError:
                    self._closed = True  # under the lock: no re-registration writes after this
                    if self._tried is not None:  # it may have landed all the same
                        remove_if_left(self._client.sync, self.key, holding(self._tried))
                    raise
        except BaseException:
            self._closed = True
            self._client._unlisten(self._on_session)
            raise

    async def _write(self) -> None:
        """Create the key if absent; a create refused because the key exists is a success when
        the key is this session's (as the sync registration's ``_write``). Lock held."""
        if self._closed:
            return
        generation = self._client.session.generation  # before the write: see _on_session
        value = self._format.encode(self._instance)
        self._tried = None if self._over else value
        self._sessions.add((self._client.session.session_id, value))
        try:
            entry = await self._client.put(self.key, value, ephemeral=True, create=True)
        except KeyExistsError:
            entry = await self._adopt(value)
        finally:  # the session it went out under, if it was being replaced meanwhile
            self._sessions.add((self._client.session.session_id, value))
        self._entry, self._generation = entry, generation
        self._sessions.clear()  # made: an earlier create applied late meets this key

    async def _adopt(self, value: bytes) -> Entry:
        existing = await self._client.get(self.key)
        if existing is None:
            raise _Vanished(f"{self.key} vanished; creating it again")
        if existing.lease and existing.lease == self._client.session.session_id:
            if existing.value == value:
                return existing
            self._over, self._tried = True, None  # the session's key: never one to remove
            try:
                return await self._put_over(existing, value)
            except ConflictError:
                raise _Vanished(f"{self.key} was removed as it was written over") from None
        if of_an_earlier_session(existing, self._entry, self._sessions):
            ours = Check(self.key, create_revision=existing.create_revision)
            with contextlib.suppress(ConflictError):  # removed, or replaced, since it was read
                await self._client.commit([ours, Delete(self.key)])
            raise _Vanished(f"removed {self.key} of an earlier session; creating it again")
        raise KeyExistsError(
            f"service {self.name} already has an instance {self.id} registered by another session "
            f"(lease {existing.lease:#x}); give each instance a unique id"
        )

    async def _rewrite(self) -> None:
        entry, value = self._entry, self._format.encode(self._instance)
        if entry is None:
            return await self._write()
        try:
            self._entry = await self._put_over(entry, value)
        except ConflictError:  # somebody deleted it meanwhile: create it again
            self._entry = None
            await self._write()

    async def _put_over(self, entry: Entry, value: bytes) -> Entry:
        written = (
            await self._client.commit(
                [Check(self.key, create_revision=entry.create_revision), Put(self.key, value, ephemeral=True)]
            )
        )[1]
        assert written is not None
        return written

    # --- session changes (on the loop) -----------------------------------------------------
    def _on_session(self, event: SessionEvent) -> None:
        if event.state is SessionState.CLOSED:
            self._closed = True  # the session's end removed the key
            return
        if event.state is not SessionState.CONNECTED or self._closed:
            return
        if event.generation > max(self._generation, self._scheduled):
            self._scheduled = event.generation
            self._client._spawn(self._reregister(event.generation))

    async def _reregister(self, generation: int) -> None:
        started = time.monotonic()
        patience = 2 * self._client.session.ttl + self._client.timeout

        def give_up(state: RetryCallState) -> bool:
            if self._closed or self._client.session.generation != generation:
                return True  # deregistered, or a newer session: its own re-registration runs
            error = state.outcome.exception() if state.outcome else None
            return isinstance(error, KeyExistsError) and time.monotonic() - started > patience

        retrying = AsyncRetrying(
            stop=give_up,
            wait=PATIENT,  # background: re-registering waits out an outage
            retry=retry_if_exception_type((*_TRANSIENT, _Vanished, KeyExistsError)),
            reraise=True,
        )
        try:
            async with self._writing:
                if self._closed:
                    return
                await retrying(self._write)
        except CoordkitError as exc:
            if not (self._closed or self._client.session.generation != generation):
                log.error(
                    "coordkit: could not register %s again after the session was lost: %s", self.key, exc
                )
            return
        if self.registered:
            log.info("coordkit: registered %s again in a new session", self.key)


async def register(registration: AsyncRegistration) -> AsyncRegistration:
    """Write ``registration`` for the first time (what ``client.register()`` awaits). Cancelled
    while the write is under way, it leaves no instance: the write is finished and its key
    removed by a task of the client."""
    client = registration._client
    writing = client._spawn(registration._register())
    try:
        await asyncio.shield(writing)
    except asyncio.CancelledError:
        client._spawn(_abandon(registration, writing))
        raise
    return registration


async def _abandon(reg: AsyncRegistration, writing: asyncio.Task[None]) -> None:
    """After a cancelled register(): let the write end, then remove what it wrote (what the
    store did not answer is removed once the session is back: see _register, deregister)."""
    with contextlib.suppress(Exception):
        await writing
    with contextlib.suppress(CoordkitError):
        await reg.deregister()
