"""The contender queue shared by locks, semaphores and elections.

A handle joins a queue of ephemeral contender keys under the recipe's path (one round
trip: the backend creates the key and lists the queue together), is admitted when its
position allows (head for a lock or an election, one of the first N for a semaphore),
and otherwise waits for the one key that must go before it: the contender right ahead
for a lock, so that a release wakes exactly one waiter, not the herd.

Ownership belongs to the client's session. When the session is SUSPENDED (unless the
handle was made with ``lose_on_suspend=False``) or LOST, a holder is told at once: its
``lost`` event is set and its callbacks run. After a SUSPENDED that recovers, the
contender key still exists, so the handle removes it, so as not to block the others.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from ..backends.base import Contender, QueueView
from ..errors import BackendUnavailableError, CoordkitError, OwnershipError
from ..names import validate_name
from ..session import SessionEvent, SessionState

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["Contention", "LostCallback"]

log = logging.getLogger("coordkit")
LostCallback = Callable[[str], None]


class Contention:
    """One handle's place in one contender queue (internal; see Lock, Election)."""

    def __init__(self, client: "Client", name: str, *, what: str, lose_on_suspend: bool = True,
                 unique: bool = False, slots: int = 1, guard: threading.Lock | None = None) -> None:
        self.client = client
        self.path = validate_name(name, f"{what} name")
        self.what = what
        self.lose_on_suspend = lose_on_suspend
        self.unique = unique
        self.slots = slots
        self._guard = guard  # one contender per session and path where the layout demands it
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self.mine: Contender | None = None
        self.generation = 0
        self.held = False
        self.lost = threading.Event()
        self.lost_reason = ""
        self._callbacks: list[LostCallback] = []
        self._cleanup_on_reconnect: Contender | None = None
        self._busy = threading.Lock()  # threading.Lock semantics for threads sharing a handle
        self._entered = False

    # --- loss ---------------------------------------------------------------------------
    def on_lost(self, callback: LostCallback) -> None:
        with self._mutex:
            self._callbacks.append(callback)

    def _on_session(self, event: SessionEvent) -> None:
        if event.generation != self.generation:
            return
        doomed = event.state is SessionState.LOST or (
            event.state is SessionState.SUSPENDED and self.lose_on_suspend)
        if doomed:
            self._wake.set()
            with self._mutex:
                was_held, self.held = self.held, False
                if was_held and event.state is SessionState.SUSPENDED and self.mine is not None:
                    # The key survives a recovered session and would block everybody behind it.
                    self._cleanup_on_reconnect = self.mine
            if was_held:
                self._declare_lost(f"session {event.state.value}: {event.reason}")
        elif event.state is SessionState.CONNECTED and self._cleanup_on_reconnect is not None:
            stale, self._cleanup_on_reconnect = self._cleanup_on_reconnect, None
            threading.Thread(target=self._remove_quietly, args=(stale,), daemon=True,
                             name="coordkit-contender-cleanup").start()

    def _declare_lost(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()
        log.warning("coordkit %s %s lost: %s", self.what, self.path, reason)
        with self._mutex:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:
                log.exception("coordkit %s loss callback failed", self.what)

    def _remove_quietly(self, contender: Contender) -> None:
        try:
            self.client.backend.queue_leave(contender)
        except Exception as exc:  # the session's end removes it anyway
            log.info("coordkit could not remove stale contender %s: %s", contender.key, exc)

    # --- entering and leaving -------------------------------------------------------------
    def enter(self, value: bytes, *, blocking: bool, timeout: float | None,
              admitted: Callable[[QueueView], bool] | None = None) -> bool:
        """Join and wait for admission. True once admitted; False if not ``blocking`` and not
        admitted at once, or if ``timeout`` passed (the contender is then removed)."""
        if timeout is not None and timeout < 0:
            timeout = None
        self._forget_lost()
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = blocking and (timeout is None or timeout > 0)
        if not self._busy.acquire(wait, -1 if deadline is None else max(0.0, timeout or 0.0)):
            return False
        try:
            if self._guard is not None and not self._guard.acquire(wait, self._left(deadline)):
                self._busy.release()
                return False
            if self._enter(value, wait, deadline, admitted or self._first_slots):
                self._entered = True
                return True
        except BaseException:
            self._release_guards()
            raise
        self._release_guards()
        return False

    def _forget_lost(self) -> None:
        """A handle whose ownership was lost may be acquired again without a release()
        (which would only report the loss, already told through ``lost``)."""
        with self._mutex:
            stale = self._entered and not self.held and self.lost.is_set()
            if stale:
                self._entered = False
        if stale:
            self._leave_quietly()
            self.client.session.remove_listener(self._on_session)
            self._release_guards()

    def _left(self, deadline: float | None) -> float:
        return -1 if deadline is None else max(0.0, deadline - time.monotonic())

    def _release_guards(self) -> None:
        if self._guard is not None and self._guard.locked():
            self._guard.release()
        self._busy.release()

    def _first_slots(self, view: QueueView) -> bool:
        return 0 <= view.position < self.slots

    def _enter(self, value: bytes, wait: bool, deadline: float | None,
               admitted: Callable[[QueueView], bool]) -> bool:
        session = self.client.session
        session.add_listener(self._on_session)
        departures = None
        if self.slots > 1:
            # Holders of a semaphore leave in any order: any departure ahead may admit us.
            # The watch starts before the join so that no departure can slip between.
            departures = self.client.backend.watch(
                self.path, lambda ev: ev.entry is None and self._wake.set(), prefix=True)
        try:
            while True:
                session.ensure_usable()
                if not session.wait_for(SessionState.CONNECTED, None if deadline is None else
                                        max(0.0, deadline - time.monotonic())):
                    return False
                self._wake.clear()
                self.generation = session.generation
                view = self.client.backend.queue_join(self.path, value, unique=self.unique)
                self.mine = view.mine
                if view.position < 0:
                    self._leave_quietly()
                    raise CoordkitError(
                        f"{self.what} {self.path}: the store did not list the contender "
                        f"{view.mine.key} it had just created; refusing to go on")
                result = self._wait_admitted(view, wait, deadline, admitted)
                if result is not None:
                    if result:
                        self.lost.clear()
                        self.lost_reason = ""
                        return True
                    self._leave_quietly()
                    return False
                # the session changed under us: the old contender is gone or going; join again
        finally:
            if departures is not None:
                departures.cancel()
            if not self.held:
                session.remove_listener(self._on_session)

    def _wait_admitted(self, view: QueueView, wait: bool, deadline: float | None,
                       admitted: Callable[[QueueView], bool]) -> bool | None:
        """True admitted, False gave up, None: the session changed, join again."""
        session = self.client.session
        backend = self.client.backend
        while True:
            if view.position < 0 or not session.is_current(self.generation):
                return None
            if admitted(view):
                with self._mutex:
                    if not session.is_current(self.generation):
                        return None
                    self.held = True
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if not wait or (remaining is not None and remaining <= 0):
                return False
            blocker = self._blocker(view)
            if blocker is None:
                self._wake.wait(remaining)
            else:
                backend.wait_gone(blocker.key, remaining, self._wake)
            if not session.is_current(self.generation):
                if session.state is SessionState.SUSPENDED:
                    session.wait_for(SessionState.CONNECTED, None if deadline is None else
                                     max(0.0, deadline - time.monotonic()))
                if not session.is_current(self.generation):
                    return None
            self._wake.clear()
            contenders, revision = backend.queue_list(self.path)
            view = QueueView(view.mine, contenders, revision)

    def _blocker(self, view: QueueView) -> Contender | None:
        """The one contender whose departure can admit us: the one right ahead, for a lock
        or an election. None for a semaphore, whose prefix watch wakes us instead."""
        if self.slots > 1 or view.position < 1:
            return None
        return view.contenders[view.position - 1]

    def leave(self) -> None:
        """Give the place up. Raises OwnershipError if it had been lost meanwhile (after
        removing what is left of the contender)."""
        with self._mutex:
            if not self._entered:
                raise OwnershipError(f"{self.what} {self.path} is not held by this handle")
            self._entered = False
            was_held, self.held = self.held, False
        lost = self.lost.is_set()
        try:
            self._leave_quietly()
        finally:
            self.client.session.remove_listener(self._on_session)
            self._release_guards()
        if not was_held:
            raise OwnershipError(
                f"{self.what} {self.path} was lost before release ({self.lost_reason or 'session ended'}); "
                "work done under it since then may have overlapped another holder"
            )

    def _leave_quietly(self) -> None:
        mine, self.mine = self.mine, None
        if mine is None:
            return
        try:
            self.client.backend.queue_leave(mine)
        except BackendUnavailableError as exc:
            # The key goes with the session at the latest; remove it when we can.
            self._cleanup_on_reconnect = mine
            log.warning("coordkit %s %s: release not confirmed (%s)", self.what, self.path, exc)
