"""Registering service instances, and one-shot reads of the registry.

A registration is one ephemeral key ``<base>/<service>/<id>`` owned by the client's session
(the value's format is in :mod:`coordkit.discovery.formats`). It vanishes at once on
:meth:`Registration.deregister` or when the client closes, and after the session TTL when
the process dies or stops answering. When the session is LOST the client opens a new one
and every registration writes itself again, exactly once, from a background thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
)

from ..backends.base import Check, Delete, Entry, Op, Put
from ..core.retry import PATIENT, QUICK
from ..core.states import SessionEvent, SessionState
from ..errors import (
    BackendUnavailableError,
    ClosedError,
    ConflictError,
    CoordkitError,
    KeyExistsError,
    SessionLostError,
)
from ._checks import DEFAULT_BASE, check_metadata, check_status, check_weight, planned_instance
from .formats import format_for
from .instance import DOWN, DRAINING, UP, ServiceInstance
from .leftovers import holding, incarnation, of_an_earlier_session, remove_if_left
from .reads import decode_entry, read_instances, read_services
from .status import stored_instance

if TYPE_CHECKING:
    from ..core.store import Store

# The one-shot reads live in .reads; named here too, where callers have always found them.
__all__ = ["Registration", "decode_entry", "planned_instance", "read_instances", "read_services"]

log = logging.getLogger(__name__)
_TRANSIENT = (BackendUnavailableError, SessionLostError)


class _Vanished(CoordkitError):
    """The key that made a create fail was gone when read: try the create again."""


class Registration:
    """One registered instance of a service, owned by the client's session.

    Made by ``client.register(name, address, port, ...)``, which returns once the instance
    is in the store. ``id`` defaults to a random UUID (as Curator's); ``metadata`` maps str
    to str (e.g. ``{"zone": "eu-1"}``); ``weight`` (1 to 1,000,000) feeds the weighted
    balancers; ``ssl_port`` and ``uri_spec`` (a template such as
    ``"{scheme}://{address}:{port}"``) are carried for Curator's users; ``base`` is the
    registry's root. Use it as a context manager to deregister on exit.

    Raises ConfigurationError for a bad argument, KeyExistsError if another session has
    registered this service with the same id, BackendUnavailableError if the store cannot
    be reached within the client's timeout (then nothing stays registered: a write the store
    applied unanswered is removed as soon as the session is back).
    """

    _tried: bytes | None = None  # what the last create sent, if it may have made the key
    _over = False  # this register() found the session's key and wrote over it: never remove it

    def __init__(
        self,
        client: Store,
        name: str,
        address: str,
        port: int,
        *,
        id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        weight: int = 1,
        base: str = DEFAULT_BASE,
        ssl_port: int | None = None,
        uri_spec: str | Mapping[str, Any] | None = None,
    ) -> None:
        self._client = client
        self._format = format_for(client.backend.capabilities.layout)
        self.key, self._instance = planned_instance(
            name,
            address,
            port,
            id=id,
            metadata=metadata,
            weight=weight,
            base=base,
            ssl_port=ssl_port,
            uri_spec=uri_spec,
        )
        self._lock = threading.RLock()  # one write at a time: register, update, deregister
        self._schedule_lock = threading.Lock()  # never held across a round trip
        self._entry: Entry | None = None  # what this registration last wrote
        self._sessions: set[tuple[int, bytes]] = set()  # (session, value) of its unanswered creates
        self._generation = 0  # the session generation that _entry was written in
        self._scheduled = 0  # the latest generation a re-registration was started for
        self._closed = False
        client.add_listener(self._on_session)
        try:
            self._retrying(self._write, stop_after_delay(client.timeout))
        except BaseException as exc:
            with self._lock:  # no re-registration writes after this
                self._closed, tried = True, self._tried
            client.remove_listener(self._on_session)
            if isinstance(exc, BackendUnavailableError) and tried is not None:
                remove_if_left(client, self.key, holding(tried))  # it may have landed all the same
            raise

    def __repr__(self) -> str:
        state = "deregistered" if self._closed else "registered" if self.registered else "re-registering"
        return f"<coordkit.Registration {self.key} {self._instance.endpoint} {state}>"

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.deregister()

    # --- what it is ----------------------------------------------------------------------
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
        """True while the key is believed to be in the store for the current session (False
        between a session loss and the re-registration, and after deregister). Answers by the
        clock: False from the session's ownership deadline on (the server may have removed
        the key by then), although no new session, hence no new generation, exists yet."""
        return (
            not self._closed
            and self._entry is not None
            and self._client.session.owns(self._generation, while_suspended=True)
        )

    # --- changes ---------------------------------------------------------------------------
    def drain(self, reason: str = "") -> ServiceInstance:
        """Take the instance out of traffic, registered still: status ``draining``. Balancers
        and caches elsewhere stop picking it within their watch delay; calls in flight are the
        caller's to finish. Waits and raises as :meth:`update`."""
        return self.update(status=DRAINING, reason=reason)

    def up(self) -> ServiceInstance:
        """Back in traffic: status ``up``. Waits and raises as :meth:`update`."""
        return self.update(status=UP)

    def down(self, reason: str = "") -> ServiceInstance:
        """Failing (what a health check sets): status ``down``. Waits and raises as :meth:`update`."""
        return self.update(status=DOWN, reason=reason)

    def update(
        self,
        *,
        metadata: Mapping[str, str] | None = None,
        weight: int | None = None,
        status: str | None = None,
        reason: str = "",
    ) -> ServiceInstance:
        """Replace the metadata, weight and/or status (with its ``reason``) in place: same key,
        same id.

        Waits until the store holds the new value and returns the new instance. While the
        session is being replaced, the new value is kept and written by the re-registration.
        Raises ConfigurationError for a bad value, ClosedError after deregister(),
        BackendUnavailableError if the store cannot be reached within the client's timeout
        (the store then holds the previous value or, if the write landed unanswered, the new
        one; the next update or re-registration writes the new one).
        """
        changes: dict[str, Any] = {}
        if metadata is not None:
            changes["metadata"] = check_metadata(metadata)
        if weight is not None:
            changes["weight"] = check_weight(weight)
        if status is not None:
            changes["status"], changes["status_reason"] = check_status(status, "" if status == UP else reason)
        with self._lock:
            if self._closed:
                raise ClosedError(f"{self.key} was deregistered; register it again to change it")
            if status is None:
                self.adopt_status()  # an operator's status stands through the owner's other changes
            self._instance = replace(self._instance, **changes)
            if self._entry is not None and self._generation == self._client.session.generation:
                self._retrying(self._rewrite, stop_after_delay(self._client.timeout))
            return self._instance

    def adopt_status(self) -> ServiceInstance:
        """Take over a status another process wrote over this key since this registration's
        last write (``coordkit maint``), and return the instance. One read; raises
        BackendUnavailableError if the store does not answer (then nothing changes)."""
        with self._lock:
            entry = self._entry
            found = stored_instance(self._client, self._format, self.key, self.name, self.id)
            if entry is None or found is None:
                return self._instance
            wrote, stored = self._format.decode(self.name, self.id, entry.value), found[0]
            if (stored.status, stored.status_reason) != (wrote.status, wrote.status_reason):
                self._instance = replace(
                    self._instance, status=stored.status, status_reason=stored.status_reason
                )
            return self._instance

    def deregister(self) -> None:
        """Remove the instance from the store now (if it is still this registration's key)
        and stop re-registering it. Idempotent.

        Raises BackendUnavailableError if the store cannot be reached within the client's
        timeout: the key is then removed once the session is back (or goes with the session).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            entry, self._entry = self._entry, None
        self._client.remove_listener(self._on_session)
        if entry is None or self._client.state is SessionState.CLOSED:
            return
        remove: list[Op] = [Check(self.key, create_revision=entry.create_revision), Delete(self.key)]
        # Already gone, or replaced by somebody else's registration: not ours to delete.
        with contextlib.suppress(ConflictError, ClosedError):
            try:
                self._retrying(lambda: self._client.commit(remove), stop_after_delay(self._client.timeout))
            except BackendUnavailableError:
                remove_if_left(self._client, self.key, incarnation(self._format, self.name, self.id, entry))
                raise

    def close(self) -> None:
        """The same as :meth:`deregister`."""
        self.deregister()

    # --- writing -------------------------------------------------------------------------
    def _retrying(self, fn: Any, stop: Any) -> Any:
        retrying = Retrying(
            stop=stop,
            wait=QUICK,  # the registering caller waits for this write
            retry=retry_if_exception_type((*_TRANSIENT, _Vanished)),
            reraise=True,
        )
        return retrying(fn)

    def _write(self) -> None:
        """Create the key if absent (one round trip). A create that fails because the key
        exists is a success when the key is this session's: the first attempt of a retried
        create went through, or a re-registration raced the initial one."""
        with self._lock:
            if self._closed:
                return
            generation = self._client.session.generation  # before the write: see _on_session
            value = self._format.encode(self._instance)
            self._tried = None if self._over else value
            self._sessions.add((self._client.session.session_id, value))
            try:
                entry = self._client.put(self.key, value, ephemeral=True, create=True)
            except KeyExistsError:
                entry = self._adopt(value)
            finally:  # the session it went out under, if it was being replaced meanwhile
                self._sessions.add((self._client.session.session_id, value))
            self._entry, self._generation = entry, generation
            self._sessions.clear()  # made: an earlier create applied late meets this key

    def _adopt(self, value: bytes) -> Entry:
        existing = self._client.get(self.key)
        if existing is None:
            raise _Vanished(f"{self.key} vanished; creating it again")
        if existing.lease and existing.lease == self._client.session.session_id:
            if existing.value == value:
                return existing
            self._over, self._tried = True, None  # the session's key: never one to remove
            try:
                return self._put_over(existing, value)
            except ConflictError:
                raise _Vanished(f"{self.key} was removed as it was written over") from None
        if of_an_earlier_session(existing, self._entry, self._sessions):
            ours = Check(self.key, create_revision=existing.create_revision)
            with contextlib.suppress(ConflictError):  # removed, or replaced, since it was read
                self._client.commit([ours, Delete(self.key)])
            raise _Vanished(f"removed {self.key} of an earlier session; creating it again")
        raise KeyExistsError(
            f"service {self.name} already has an instance {self.id} registered by another session "
            f"(lease {existing.lease:#x}); give each instance a unique id"
        )

    def _rewrite(self) -> None:
        """Write the current value over this registration's own key; create it again if
        somebody deleted it meanwhile."""
        with self._lock:
            entry = self._entry
            value = self._format.encode(self._instance)
            if entry is None:
                return self._write()
            try:
                self._entry = self._put_over(entry, value)
            except ConflictError:
                self._entry = None
                self._write()

    def _put_over(self, entry: Entry, value: bytes) -> Entry:
        written = self._client.commit(
            [Check(self.key, create_revision=entry.create_revision), Put(self.key, value, ephemeral=True)]
        )[1]
        assert written is not None
        return written

    # --- session changes -----------------------------------------------------------------
    def _on_session(self, event: SessionEvent) -> None:
        # On the session's dispatcher thread: decide here, write on a thread of its own so
        # that other listeners are not held up by a round trip.
        if event.state is SessionState.CLOSED:
            self._closed = True  # the session's end removed the key
            return
        if event.state is not SessionState.CONNECTED or self._closed:
            return
        with self._schedule_lock:
            fresh = event.generation > max(self._generation, self._scheduled)
            if fresh:
                self._scheduled = event.generation
        if fresh:
            threading.Thread(
                target=self._reregister,
                args=(event.generation,),
                daemon=True,
                name=f"coordkit-reregister {self.key}",
            ).start()

    def _reregister(self, generation: int) -> None:
        started = time.monotonic()
        patience = 2 * self._client.session.ttl + self._client.timeout

        def give_up(state: RetryCallState) -> bool:
            if self._closed or self._client.session.generation != generation:
                return True  # deregistered, or a newer session: its own re-registration runs
            error = state.outcome.exception() if state.outcome else None
            return isinstance(error, KeyExistsError) and time.monotonic() - started > patience

        retrying = Retrying(
            stop=give_up,
            wait=PATIENT,  # background: re-registering waits out an outage
            retry=retry_if_exception_type((*_TRANSIENT, _Vanished, KeyExistsError)),
            reraise=True,
        )
        try:
            retrying(self._write)
        except CoordkitError as exc:
            if not (self._closed or self._client.session.generation != generation):
                log.error(
                    "coordkit: could not register %s again after the session was lost: %s", self.key, exc
                )
            return
        if self.registered:
            log.info("coordkit: registered %s again in a new session", self.key)
