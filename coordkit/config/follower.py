"""The thread that keeps a :class:`coordkit.Config` current.

An event that the current state does not already reflect marks the state dirty. When the
events not yet applied are exactly one whole coordkit change on top of the current state
(:mod:`.incremental` says when), this thread applies them as they are; otherwise it reads
the whole subtree as one consistent state (see :mod:`.store`) and hands that over. Either
way every change arrives whole (a transaction's events reach a watcher one by one: a
change seen in part is never applied). Resyncing after a reconnect, a new session, a
``refresh()`` or a failed read always reads the whole subtree. Changes that come faster
than they are applied are folded into the next read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type

from ..backends.base import Entry, EventType, WatchEvent
from ..core.retry import PATIENT, until
from ..core.states import SessionEvent, SessionState
from ..errors import BackendUnavailableError, ClosedError
from ..names import join
from .incremental import next_state
from .values import MARKER

if TYPE_CHECKING:
    from ..core.store import Store
    from ..core.watch import WatchHandle

__all__ = ["Follower"]

log = logging.getLogger(__name__)

ReadFn = Callable[[], tuple[list[Entry], int]]
ApplyFn = Callable[[list[Entry], int], None]


class _Retry(Exception):
    """The read failed for a reason that a later attempt may not meet."""


class Follower:
    """Watch ``root``, re-read on every change not yet seen, and pass each state to ``apply``.

    ``apply`` runs on this object's one thread (or under :meth:`sync`'s lock), so states
    are applied one at a time and in order.
    """

    def __init__(self, client: Store, root: str, *, read: ReadFn, apply: ApplyFn, name: str) -> None:
        self._client, self._root, self._read, self._apply, self._name = client, root, read, apply, name
        self._cond = threading.Condition()
        self._apply_lock = threading.RLock()
        self._known: dict[str, tuple[int, int]] = {}  # key -> (create, mod revision) last read
        self._entries: dict[str, Entry] = {}  # the state applied last, by key
        self._marker = join(root, MARKER)
        self._unseen: list[WatchEvent] = []  # changes the last state read does not reflect
        self._forced = False  # a read is due whatever the events say (refresh, reconnect)
        self._closed = False
        self._requested = 0  # refresh() requests, and the last one a completed read served
        self._served = 0
        self._revision = 0  # of the last state applied
        self._connected = client.state is SessionState.CONNECTED
        self._failing = False
        self._resync = False  # a read is owed since the session came back
        self._epoch = 0  # counts reconnects: a read reconciles only those before it began
        self._kick = False  # cuts a back-off short (reconnect, refresh)
        self._synced_at = 0.0
        self._watch: WatchHandle | None = None
        self._thread = threading.Thread(target=self._run, name=f"coordkit-config {name}", daemon=True)

    # --- life cycle ----------------------------------------------------------------
    def start_watch(self) -> None:
        """Start watching (before the first read, so that no change falls in between)."""
        self._client.add_listener(self._on_session)
        try:
            self._watch = self._client.watch(self._root, self._on_event, recursive=True)
        except BaseException:
            self._client.remove_listener(self._on_session)
            raise

    def start(self) -> None:
        """Start following, after the first state was applied."""
        self._thread.start()

    def close(self) -> None:
        """Stop the watch and the thread; returns once no ``apply`` runs (unless called
        from inside one)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._client.remove_listener(self._on_session)
        if self._watch is not None:
            self._watch.cancel()
        if self._thread.ident is not None and threading.current_thread() is not self._thread:
            self._thread.join()

    # --- state for Config ----------------------------------------------------------
    @property
    def stale(self) -> bool:
        if self._closed:
            return True
        if self._thread.ident is None:  # not following: as fresh as the last read, at best
            return self._client.state is not SessionState.CONNECTED
        return not self._connected or self._failing or self._resync

    @property
    def connected(self) -> bool:
        if self._thread.ident is None:
            return not self._closed and self._client.state is SessionState.CONNECTED
        return self._connected and not self._closed

    @property
    def synced_at(self) -> float:
        return self._synced_at

    @property
    def revision(self) -> int:
        return self._revision

    def on_own_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def sync(self) -> None:
        """Read and apply now, on the caller's thread (the first read, and refresh() of a
        config that does not follow). Raises what the read raises."""
        with self._apply_lock:
            self._read_and_apply()

    def request(self) -> int:
        """Ask the thread for a fresh read; returns a ticket for :meth:`wait_for`."""
        with self._cond:
            self._requested += 1
            self._forced = self._kick = True
            self._cond.notify_all()
            return self._requested

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``predicate()`` (checked whenever a state was applied) holds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = None if deadline is None else deadline - time.monotonic()
                if self._closed or (remaining is not None and remaining <= 0):
                    return predicate()
                self._cond.wait(remaining)
            return True

    def served(self, ticket: int) -> bool:
        return self._served >= ticket

    # --- events --------------------------------------------------------------------
    def _reflected(self, event: WatchEvent) -> bool:
        known = self._known.get(event.key)
        if event.type is EventType.DELETE:
            return known is None
        entry = event.entry
        return (
            entry is not None
            and known is not None
            and known[0] == entry.create_revision
            and known[1] >= entry.mod_revision
        )

    def _on_event(self, event: WatchEvent) -> None:
        # On the watch's thread: never block; just say a read is due. An event that lands
        # during a read is checked again against that read's result (see _read_and_apply):
        # the events of one change often arrive one by one, and one read covers them all.
        with self._cond:
            if not self._reflected(event):
                self._unseen.append(event)
                self._cond.notify_all()

    def _on_session(self, event: SessionEvent) -> None:
        with self._cond:
            if event.state is SessionState.CLOSED:  # the client was closed under us
                self._closed = True
                self._cond.notify_all()
                return
            was = self._connected
            self._connected = event.state is SessionState.CONNECTED
            if self._connected and not was:
                # Changes may have been made while we were away: read to reconcile.
                self._resync = self._forced = self._kick = True
                self._epoch += 1
            self._cond.notify_all()
        if was and not self._connected:
            log.warning(
                "coordkit config %s: %s; serving the last known configuration (version %d)",
                self._name,
                event.reason or event.state.value,
                self._revision,
            )

    # --- the thread ----------------------------------------------------------------
    def _run(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type((BackendUnavailableError, _Retry)),
            wait=PATIENT,  # background work: waits out an outage, for as long as the config is open
            stop=until(lambda: self._closed),
            sleep=self._pause,
            before_sleep=self._note_failure,
        )
        while self._next():
            try:
                with self._apply_lock:
                    retrying(self._read_and_apply)
            except (RetryError, ClosedError):
                if not self._closed:
                    log.info("coordkit config %s: the client was closed; no longer following", self._name)
                    self._closed = True
                return

    def _next(self) -> bool:
        with self._cond:
            while not (self._unseen or self._forced or self._closed):
                self._cond.wait()
            return not self._closed

    def _pause(self, seconds: float) -> None:
        with self._cond:  # a reconnect or a refresh() cuts the back-off short
            self._cond.wait_for(lambda: self._closed or self._kick, seconds)
            self._kick = False

    def _note_failure(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if not self._failing:
            log.warning(
                "coordkit config %s: reading failed (%s); serving the last known configuration "
                "(version %d) and retrying",
                self._name,
                error,
                self._revision,
            )
        self._failing = True

    def _get(self, key: str) -> Entry | None:
        return self._client.backend.get(key)

    def _read_and_apply(self) -> None:
        with self._cond:
            taken, forced = self._unseen, self._forced
            self._unseen, self._forced, self._kick = [], False, False
            ticket, epoch = self._requested, self._epoch
        try:
            step = None if forced else next_state(self._entries, taken, self._root, self._marker, self._get)
            entries, revision = self._read() if step is None else step
        except BaseException as exc:
            with self._cond:  # not applied: they still count for the next attempt
                self._unseen = taken + self._unseen
                self._forced = self._forced or forced
            if isinstance(exc, (BackendUnavailableError, ClosedError)) or not isinstance(exc, Exception):
                raise
            log.exception("coordkit config %s: reading failed", self._name)
            raise _Retry(str(exc)) from exc
        if revision >= self._revision:  # a slower, older read never overwrites a newer one
            self._apply(entries, revision)
        with self._cond:
            self._entries = {e.key: e for e in entries}
            self._known = {e.key: (e.create_revision, e.mod_revision) for e in entries}
            self._unseen = [e for e in self._unseen if not self._reflected(e)]
            self._revision = max(self._revision, revision)
            self._served = max(self._served, ticket)
            self._synced_at = time.time()
            if self._failing:
                log.info("coordkit config %s: reading works again (version %d)", self._name, self._revision)
            self._failing = False
            self._resync = self._resync and (epoch != self._epoch or not self._connected)
            self._cond.notify_all()
