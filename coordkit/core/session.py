"""The session manager: one backend session kept alive, reported, and replaced when lost.

What each state lets a caller assume is in :mod:`coordkit.core.states`.

Ownership ends by the local monotonic clock at :attr:`Session.valid_until`: when the last
acknowledged heartbeat was *sent*, plus the granted TTL, minus :attr:`Session.margin`. The
server received that heartbeat later and counts the TTL from then, so nobody else can be let
in before it. Ownership queries (:meth:`Session.owns`, :attr:`Session.state`) read the clock at
the call and declare LOST themselves: no thread has to run first (after SIGSTOP, a long GC).

Listeners are called on one dispatcher thread, in order, one event at a time. A
listener that raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time

from ..backends import probe as probes
from ..backends.base import Backend, ConnectionEvent
from ..errors import BackendUnavailableError, ClosedError, SessionLostError
from .observe import keepalive
from .states import SessionEvent, SessionListener, SessionState

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MARGIN_RATE",
    "Session",
    "SessionEvent",
    "SessionListener",
    "SessionState",
    "default_margin",
]

log = logging.getLogger("coordkit.session")  # the name the README documents, older than coordkit.core

# The margin taken off the TTL: a fixed part for scheduling (from an ownership check's clock
# read to the caller's act on it) plus a part for clock rates (NTP slews by at most 500 ppm;
# 2% also covers a drifting VM clock by a wide margin).
DEFAULT_MARGIN = 0.1
DEFAULT_MARGIN_RATE = 0.02


def default_margin(ttl: float) -> float:
    """The margin used when none is given: ``DEFAULT_MARGIN + DEFAULT_MARGIN_RATE * ttl``."""
    return DEFAULT_MARGIN + DEFAULT_MARGIN_RATE * ttl


class Session:
    """Keeps one backend session alive, tells listeners about it, and replaces it when lost.

    ``ttl`` is asked of the server; :attr:`ttl` is what it granted. A heartbeat runs every
    ``ttl / 3``; after a failed heartbeat the state is SUSPENDED and the client probes more
    often until it hears from the server again or the ownership deadline
    (:attr:`valid_until`) passes, which makes it LOST. ``margin`` (seconds, default
    :func:`default_margin` of ``ttl``) is taken off the TTL for that deadline; it is capped
    at half the granted TTL.
    """

    def __init__(self, backend: Backend, *, ttl: float, timeout: float, margin: float | None = None) -> None:
        self._backend = backend
        self._asked_ttl = ttl
        self._margin = default_margin(ttl) if margin is None else margin
        self._timeout = timeout
        self._cond = threading.Condition()
        self._state = SessionState.SUSPENDED  # until connect() succeeds
        self._generation = 0
        self._session_id = 0
        self._last_heard = 0.0
        self._down_since = 0.0  # when the state last left CONNECTED
        self._wake = False
        self._listeners: list[SessionListener] = []
        self._events: queue.SimpleQueue[SessionEvent | None] = queue.SimpleQueue()
        self._heartbeat: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None

    # --- public ------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        """The state now: LOST as soon as the ownership deadline has passed, even if no
        heartbeat has run since (see :attr:`valid_until`)."""
        self._expire_if_due()
        return self._state

    @property
    def session_id(self) -> int:
        return self._session_id

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def ttl(self) -> float:
        """The TTL the server granted, in seconds."""
        return self._backend.session_ttl

    @property
    def requested_ttl(self) -> float:
        """The TTL asked of the server, in seconds (``ttl`` says what it granted)."""
        return self._asked_ttl

    def _report_granted_ttl(self) -> None:
        # Servers clamp a TTL (ZooKeeper to [2, 20] ticks, etcd to its minimum lease) without
        # failing; a caller who asked for 100 s and holds a lock on 10 s must hear of it.
        granted = self._backend.session_ttl
        if granted and abs(granted - self._asked_ttl) > 1e-3 and granted != math.ceil(self._asked_ttl):
            log.warning(
                "coordkit session %x: asked for a TTL of %gs, the server granted %gs",
                self._backend.session_id,
                self._asked_ttl,
                granted,
            )

    @property
    def last_heard(self) -> float:
        """``time.monotonic()`` when the last successful heartbeat was sent."""
        return self._last_heard

    @property
    def margin(self) -> float:
        """Seconds taken off the granted TTL for the ownership deadline (at most half of it)."""
        return min(self._margin, self._backend.session_ttl / 2)

    @property
    def valid_until(self) -> float:
        """``time.monotonic()`` deadline of ownership through this session:
        :attr:`last_heard` + :attr:`ttl` - :attr:`margin`. Past it, the session is LOST."""
        return self._last_heard + self._backend.session_ttl - self.margin

    def owns(self, generation: int, *, while_suspended: bool = False) -> bool:
        """True if ``generation`` is the live session, CONNECTED (or SUSPENDED, with
        ``while_suspended``) and within its ownership deadline by the clock now; declares
        the session LOST first if the deadline has passed."""
        with self._cond:
            self._expire_if_due()
            if self._generation != generation:
                return False
            return self._state is SessionState.CONNECTED or (
                while_suspended and self._state is SessionState.SUSPENDED
            )

    def add_listener(self, listener: SessionListener) -> None:
        """Call ``listener`` with every later :class:`SessionEvent` (on the dispatcher thread)."""
        with self._cond:
            self._listeners.append(listener)

    def remove_listener(self, listener: SessionListener) -> None:
        with self._cond:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def wait_for(self, state: SessionState, timeout: float | None = None) -> bool:
        """Wait until the session is in ``state``; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._state is not state:
                if self._state is SessionState.CLOSED:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def ensure_usable(self) -> None:
        """Raise ClosedError if the client was closed."""
        if self._state is SessionState.CLOSED:
            raise ClosedError("the coordkit client is closed; connect again")

    def is_current(self, generation: int) -> bool:
        """True if ``generation`` is the live session, CONNECTED and within its deadline."""
        return self.owns(generation)

    # --- lifecycle ---------------------------------------------------------------
    def open(self) -> None:
        """Connect and open the first session; raises BackendUnavailableError on failure."""
        started = time.monotonic()
        self._backend.connect(self._on_connection_event, ttl=self._asked_ttl, timeout=self._timeout)
        with self._cond:
            self._last_heard = started
            self._session_id = self._backend.session_id
            self._generation = 1
            self._state = SessionState.CONNECTED
        if (probe := probes.active) is not None:
            probe.session_changed(self._backend.kind, "opening", SessionState.CONNECTED.value, None)
        self._report_granted_ttl()
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="coordkit-session-events", daemon=True
        )
        self._dispatcher.start()
        self._heartbeat = threading.Thread(target=self._run, name="coordkit-session-heartbeat", daemon=True)
        self._heartbeat.start()

    def close(self) -> None:
        """Stop the heartbeat, end the session (ephemeral keys vanish now) and report CLOSED.
        Idempotent; bounded in time even when the servers are unreachable."""
        with self._cond:
            if self._state is SessionState.CLOSED:
                return
            self._transition(SessionState.CLOSED, "closed by its owner")
            self._cond.notify_all()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(self._timeout + 1)
        try:
            self._backend.close()
        finally:
            self._events.put(None)
            if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
                self._dispatcher.join(self._timeout + 1)

    def expire_now(self, reason: str = "expired on request") -> None:
        """Declare the session LOST at once and replace it (fault injection, and what a
        holder calls when it learns from the server that its session is gone)."""
        with self._cond:
            if self._state in (SessionState.LOST, SessionState.CLOSED):
                return
            self._transition(SessionState.LOST, reason)
            self._wake = True
            self._cond.notify_all()

    # --- internals -----------------------------------------------------------------
    def _expire_if_due(self) -> None:
        """Declare LOST if the ownership deadline has passed: by whichever thread asks
        first, so that a resumed process cannot act on a belief its heartbeat thread has
        not yet had the chance to correct."""
        if self._generation == 0 or self._state not in (SessionState.CONNECTED, SessionState.SUSPENDED):
            return  # not open yet (connect() is still running), or already over
        if time.monotonic() < self.valid_until:
            return
        with self._cond:
            if (
                self._state in (SessionState.CONNECTED, SessionState.SUSPENDED)
                and time.monotonic() >= self.valid_until
            ):
                self._transition(
                    SessionState.LOST,
                    (
                        f"no acknowledged heartbeat for the session TTL ({self._backend.session_ttl:g}s) "
                        f"less the {self.margin:g}s margin"
                    ),
                )
                self._wake = True
                self._cond.notify_all()

    def _transition(self, state: SessionState, reason: str) -> None:
        # Called with self._cond held; the event is queued so listeners run outside it.
        if state is self._state:
            return
        event = SessionEvent(state, self._state, self._session_id, self._generation, reason)
        self._state = state
        self._cond.notify_all()
        self._events.put(event)
        # One line when the link drops and one when it is back, saying after how long; the
        # attempts in between are DEBUG (here, in kazoo's lines and in the watches').
        down, down_for = "", None
        if event.previous is not SessionState.CONNECTED and state is SessionState.CONNECTED:
            down_for = time.monotonic() - self._down_since
            down = f", after {down_for:.1f}s without the servers"
        elif event.previous is SessionState.CONNECTED:
            self._down_since = time.monotonic()
        if (probe := probes.active) is not None:
            probe.session_changed(self._backend.kind, event.previous.value, state.value, down_for)
        log.info(
            "coordkit session %x: %s -> %s (%s%s)",
            self._session_id,
            event.previous.value,
            state.value,
            reason,
            down,
        )

    def _on_connection_event(self, event: ConnectionEvent) -> None:
        # Runs on the backend's thread: record and wake the heartbeat, never block.
        with self._cond:
            if self._state is SessionState.CLOSED:
                return
            if event is ConnectionEvent.DISCONNECTED and self._state is SessionState.CONNECTED:
                self._transition(SessionState.SUSPENDED, "connection to the servers dropped")
            elif event is ConnectionEvent.EXPIRED and self._state is not SessionState.LOST:
                self._transition(SessionState.LOST, "the server expired the session")
            self._wake = True
            self._cond.notify_all()

    def _dispatch(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            with self._cond:
                listeners = list(self._listeners)
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # a listener's bug must not silence the others
                    log.exception("coordkit session listener %r failed", listener)

    def _next_wait(self) -> float:
        # Wakes at the deadline at the latest, so that listeners hear of the loss then.
        until_deadline = max(0.0, self.valid_until - time.monotonic())
        if self._state is SessionState.CONNECTED:
            return min(self._backend.session_ttl / 3, until_deadline)
        return min(0.25, until_deadline)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._wake:
                    self._cond.wait(self._next_wait())
                self._wake = False
                self._expire_if_due()
                state = self._state
            if state is SessionState.CLOSED:
                return
            if state is SessionState.LOST:
                self._reopen()
            else:
                self._beat()

    def _beat(self) -> None:
        ttl = self._backend.session_ttl
        sent = time.monotonic()
        lost_at = self.valid_until
        try:
            keepalive(self._backend, max(0.05, min(self._timeout, ttl / 3, lost_at - sent)))
        except SessionLostError as exc:
            with self._cond:
                if self._state is not SessionState.CLOSED:
                    self._transition(SessionState.LOST, f"the server no longer knows the session ({exc})")
            return
        except BackendUnavailableError as exc:
            with self._cond:
                if self._state is SessionState.CLOSED:
                    return
                if time.monotonic() >= lost_at:
                    self._transition(
                        SessionState.LOST,
                        f"no answer from the servers for the session TTL ({ttl:g}s) less the margin",
                    )
                elif self._state is SessionState.CONNECTED:
                    self._transition(SessionState.SUSPENDED, f"heartbeat failed: {exc}")
            return
        except ClosedError:
            return
        except Exception as exc:  # noqa: BLE001 - an unexpected refusal must not stop the clock
            log.warning("coordkit session %x: heartbeat failed unexpectedly: %r", self._session_id, exc)
            with self._cond:
                if self._state is SessionState.CLOSED:
                    return
                if time.monotonic() >= lost_at:
                    self._transition(SessionState.LOST, f"no successful heartbeat for the TTL ({exc!r})")
                elif self._state is SessionState.CONNECTED:
                    self._transition(SessionState.SUSPENDED, f"heartbeat failed: {exc!r}")
            return
        with self._cond:
            if self._state in (SessionState.LOST, SessionState.CLOSED):
                return  # declared by the clock meanwhile: a late answer cannot undo that
            self._last_heard = sent
            if self._state is SessionState.SUSPENDED:
                self._transition(SessionState.CONNECTED, "heard from the servers again")

    def _reopen(self) -> None:
        # tenacity is imported here, by the first session lost: a short-lived process (the
        # CLI's `get`) never loads it.
        from tenacity import Retrying, retry_if_not_exception_type

        from .retry import NEW_SESSION

        retrying = Retrying(  # every failure but a close is retried: a new session must come
            wait=NEW_SESSION,
            retry=retry_if_not_exception_type(ClosedError),
            before_sleep=lambda state: log.debug(
                "coordkit: opening a new session failed: %r",
                state.outcome.exception() if state.outcome else None,
            ),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if self._state is SessionState.CLOSED:
                        return
                    started = time.monotonic()
                    session_id = self._backend.new_session(self._timeout)
        except ClosedError:
            return
        with self._cond:
            if self._state is SessionState.CLOSED:
                return
            self._last_heard = started
            self._session_id = session_id
            self._generation += 1
            self._transition(SessionState.CONNECTED, "opened a new session")
