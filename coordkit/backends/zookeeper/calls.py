"""How every call of the ZooKeeper backend runs: on the kazoo client in place (waiting while
``new_session()`` swaps clients), by one deadline, again once the link is back when the call
is safe to repeat, with kazoo's exceptions translated in one place (:mod:`.errors`).

:class:`ClientCalls` is the base of the backend's key calls (:mod:`.keys`) and contender
queues (:mod:`.queue`); :class:`~coordkit.backends.zookeeper.backend.ZooKeeperBackend`
holds the state it reads (the client, the session's flags) and changes it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from kazoo.client import KazooClient

from ...core.security import Security
from ...errors import (
    BackendUnavailableError,
    ClosedError,
    CoordkitError,
    OperationTimeoutError,
    SessionLostError,
)
from ...names import KeyMapper
from ..base import Backend, ConnectionSink
from .acl import describe_identity
from .errors import TRANSLATED, translate

__all__ = ["ClientCalls"]

T = TypeVar("T")


class ClientCalls(Backend):
    """Running one call: :meth:`_usable` (the client), :meth:`_errors` (translation) and
    :meth:`_read` (both, by a deadline, retried through a reconnect)."""

    _endpoints: list[str]
    _namespace: str
    _keys: KeyMapper
    _op_timeout: float
    _security: Security
    _client: KazooClient | None
    _sink: ConnectionSink | None
    _sid: int
    _lost: bool  # the session expired and new_session() has not replaced it yet
    _closed: bool
    _connected: threading.Event  # kazoo's link is up
    _installed: threading.Event  # a client is in place (clear while new_session swaps)

    @property
    def _where(self) -> str:
        return ",".join(self._endpoints) + self._namespace

    # --- errors and deadlines -------------------------------------------------------
    @contextlib.contextmanager
    def _errors(
        self,
        key: str = "",
        *,
        versioned: bool = False,
        write: bool = False,
        session: bool = False,
        timeout: float | None = None,
    ) -> Iterator[None]:
        """Translate what escapes the block. ``session``: the operation depends on the current
        session (ephemeral keys, heartbeats); others only see an expiry as a lost link."""
        try:
            yield
        except CoordkitError:
            raise
        except TRANSLATED as exc:
            if self._closed:
                raise ClosedError("the ZooKeeper backend is closed") from exc
            error = translate(
                exc,
                key=key,
                where=self._where,
                timeout=timeout or self._op_timeout,
                versioned=versioned,
                write=write,
                identity=describe_identity(self._security),
            )
            if isinstance(error, SessionLostError) and not session:
                error = BackendUnavailableError(
                    f"the ZooKeeper session expired during the operation on "
                    f"{key or '/'}" + ("; it may or may not have been applied" if write else "")
                )
            raise error from exc

    def _deadline(self) -> float:
        return time.monotonic() + self._op_timeout

    def _usable(self, *, session: bool = False, deadline: float | None = None) -> KazooClient:
        """The client to run on, waiting while new_session() swaps clients (until ``deadline``,
        by default for the operation timeout), then BackendUnavailableError. With
        ``session``, refuses once the session is lost: an ephemeral key must not land on a
        session that kazoo opened by itself after an expiry."""
        if self._closed:
            raise ClosedError("the ZooKeeper backend is closed")
        if session and self._lost:
            raise SessionLostError(f"ZooKeeper session {self._sid:#x} is gone; a new one is needed")
        client = self._client
        if client is None and self._sink is not None:
            wait = self._op_timeout if deadline is None else max(0.0, deadline - time.monotonic())
            self._installed.wait(wait)
            client = self._client
            if self._closed:
                raise ClosedError("the ZooKeeper backend is closed")
        if client is None:
            raise BackendUnavailableError(f"no ZooKeeper session is open to {self._where}")
        if session and self._lost:
            raise SessionLostError(f"ZooKeeper session {self._sid:#x} is gone; a new one is needed")
        return client

    def connected_client(self) -> KazooClient | None:
        """The client if its link is up on a live session now, else None (never waits)."""
        client = self._client
        if self._closed or self._lost or client is None or not self._connected.is_set():
            return None
        return client

    def _read(
        self,
        key: str,
        fn: Callable[[KazooClient, float], T],
        *,
        write: bool = False,
        session: bool = False,
        timeout: float | None = None,
    ) -> T:
        """Run an idempotent call (a read, or a write safe to repeat) by one deadline (the
        operation timeout, or ``timeout`` if shorter), again if the link comes back before it."""
        limit = self._op_timeout if timeout is None else min(self._op_timeout, timeout)
        deadline = time.monotonic() + limit
        while True:
            client = self._usable(session=session, deadline=deadline)
            try:
                with self._errors(key, write=write, session=session, timeout=limit):
                    return fn(client, deadline)
            except BackendUnavailableError as exc:
                remaining = deadline - time.monotonic()
                if isinstance(exc, OperationTimeoutError) or remaining <= 0:
                    raise
                if not self._connected.wait(remaining):
                    raise
