"""The contender queue shared by locks, semaphores, read/write locks and elections, which
differ only by their :class:`~._policy.Policy`.

A handle joins a queue of ephemeral contender keys under the recipe's path (one round
trip: the backend creates the key and lists the queue together), is admitted when the
policy says its position allows, and otherwise waits for the one key that must go before
it: the contender right ahead for a lock, so that a release wakes one waiter, not the herd
(a semaphore waiter watches the ``limit`` nearest ahead of it, :mod:`._departures`).

Ownership belongs to the client's session. When the session is SUSPENDED (unless the
handle was made with ``lose_on_suspend=False``) or LOST, a holder is told at once: its
``lost`` event is set and its callbacks run; ``is_held`` also checks the session itself,
so it turns false even before the listeners have run, and ends by the clock at the
session's deadline (``is_held``, token, fence check, ``lost`` read the clock when asked).
A contender key that could not be removed is removed once the session is back (see
:mod:`._cleanup`). A waiter keeps its place while the session is SUSPENDED and is admitted
only once it is CONNECTED again; after LOST it joins again on the new session.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Literal

from ..backends import probe as probes
from ..backends.contender_queue import Contender, QueueView
from ..core.durations import wait_seconds
from ..core.session import Session, SessionEvent, SessionState
from ..core.when_connected import cleanup_generation, when_connected
from ..errors import BackendUnavailableError, CoordkitError, OwnershipError, SessionLostError
from ..names import recipe_name
from ._cleanup import leave_or_later, leave_when_connected
from ._deadlines import call_time, remaining_time, settle, take
from ._departures import window
from ._join import join_again, unconfirmed_remover
from ._loss import LossEvent, LostCallback
from ._observe import kind_of, observed_enter
from ._policy import Policy

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["Contention", "LostCallback"]

log = logging.getLogger(__name__)


class Contention:
    """One handle's place in one contender queue (internal; see Lock, Semaphore, Election)."""

    def __init__(
        self,
        client: Store,
        name: str,
        policy: Policy,
        *,
        lose_on_suspend: bool = True,
        guard: threading.Lock | None = None,
    ) -> None:
        self.client = client
        self.policy = policy
        self.what = policy.what
        self.path = recipe_name(name, f"{policy.what} name")  # one spelling below this line
        self.lose_on_suspend = lose_on_suspend
        self._guard = guard  # one contender per session and key where the layout demands it
        self._guard_held = False
        self._busy = threading.Lock()  # threading.Lock semantics for threads sharing a handle
        self._owner: int | None = None  # the thread whose acquire holds _busy
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._entered = False
        self._calls_by: float | None = None  # the deadline that bounds each store call of enter()
        self.mine: Contender | None = None
        self.generation = 0
        self.held = False
        self.held_since = 0.0  # time.monotonic() of the admission, for the hold-time metric
        self.lost = LossEvent(self, policy.what)

    @property
    def session(self) -> Session:
        return self.client.session

    @property
    def held_now(self) -> bool:
        """Held, and the session says so right now (not only once listeners have run)."""
        if not self.held:
            return False
        session = self.session
        if session.owns(self.generation, while_suspended=not self.lose_on_suspend):
            return True
        # Ended by the clock or a change not yet dispatched: tell now (a release would unhook us).
        state = session.state if session.generation == self.generation else SessionState.LOST
        self._lose(state, f"session {state.value}: ownership ended (deadline or state), seen when asked")
        return False

    def _token(self) -> int | None:
        return None if self.mine is None else self.mine.create_revision

    # --- loss ---------------------------------------------------------------------------
    @property
    def lost_reason(self) -> str:
        return self.lost.reason

    def on_lost(self, callback: LostCallback) -> None:
        self.lost.on_lost(callback)

    def _on_session(self, event: SessionEvent) -> None:
        self._wake.set()  # a waiter re-examines its situation after any change
        ending = event.state in (SessionState.LOST, SessionState.CLOSED) or (
            event.state is SessionState.SUSPENDED and self.lose_on_suspend
        )
        if event.generation != self.generation or not ending:
            return
        self._lose(event.state, f"session {event.state.value}: {event.reason}")

    def contender_gone(self, token: int) -> None:
        """The store answered that our contender of ``token`` is gone (revoked with its lease,
        deleted by an operator): a proof, so the holding ends now rather than when the session
        next hears from the servers. Ignored for another token (a holding since then)."""
        mine = self.mine
        if mine is None or mine.create_revision != token:
            return
        self._lose(
            SessionState.CONNECTED, f"the store no longer has the contender {mine.key} (token {token})"
        )

    def _lose(self, state: SessionState, reason: str) -> None:
        """End a holding once (whichever thread sees it first): set ``lost``, run the callbacks."""
        with self._mutex:
            was_held, self.held = self.held, False
            mine = self.mine
        if not was_held:
            return
        if (probe := probes.active) is not None:
            probe.hold_ended(kind_of(self.what), time.monotonic() - self.held_since, True)
        if state in (SessionState.SUSPENDED, SessionState.CONNECTED) and mine is not None:
            # The key survives a recovered session and would block everybody behind it
            # (CONNECTED: a query saw the session in doubt, and it recovered before the
            # query read its state; the holding ended all the same).
            leave_when_connected(self.client, self.generation, mine)
        self._drop_guard()  # other handles of this client may contend again
        self.lost.declare(self.path, reason)

    def _drop_guard(self) -> None:
        with self._mutex:
            release, self._guard_held = self._guard_held, False
        if release and self._guard is not None:
            self._guard.release()

    # --- entering -------------------------------------------------------------------------
    def enter(self, value: bytes, *, blocking: bool, timeout: float | None, observed: bool = False) -> bool:
        """Join and wait for admission (by the policy). True once admitted; False if not
        ``blocking`` and not admitted at once, or if ``timeout`` passed (the contender is then
        removed). Every store call made meanwhile is bounded by what remains of ``timeout``, so
        that an unreachable store does not make the call overrun it by an operation timeout; a
        non-blocking call (or ``timeout=0``) gives its one round trip the operation timeout.
        With a probe active, the wait and its outcome are told to it (``observed``: already)."""
        if not observed and (probe := probes.active) is not None:
            again = functools.partial(self.enter, value, blocking=blocking, timeout=timeout, observed=True)
            return observed_enter(probe, self.what, self.client.kind, again, self._token, blocking)
        turn = self._take_turn(blocking, timeout)
        if turn is None:
            return False
        wait, deadline = turn
        session, entered = self.session, False
        session.add_listener(self._on_session)
        try:
            unconfirmed: str | None = None  # a join whose session was replaced before it was answered
            while self._connected(deadline):
                # The join, right here: ``lock.acquire()`` reaches the backend in two frames. The
                # attempt is kept across the retries of one join, and into the next session when
                # that replacement cut it off: sent as the lease changed, it may have landed there.
                attempt, unconfirmed = unconfirmed or uuid.uuid4().hex, None
                joined: QueueView | Literal[False] | None
                try:
                    joined = self.client.backend.queue_join(
                        self.path,
                        value,
                        unique=self.policy.unique,
                        attempt=attempt,
                        timeout=call_time(self._calls_by),
                    )
                except (BackendUnavailableError, SessionLostError) as exc:
                    joined = self._rejoin(value, attempt, deadline, exc)
                    unconfirmed = attempt if joined is None else None
                if joined is False:
                    return False
                if joined is not None:  # None: the session was replaced, join afresh on the new one
                    result = self._wait_admitted(self._placed(joined), wait, deadline)
                    if result is not None:
                        entered = result
                        return result
                    # Our contender is gone, or landed on a session replacing ours: remove it, rejoin.
                    self._leave_quietly()
            if unconfirmed is not None:  # the deadline passed before the next session was there
                self._abandon(unconfirmed)
            return False
        finally:
            self._end_enter(entered)

    def _take_turn(self, blocking: bool, timeout: float | None) -> tuple[bool, float | None] | None:
        """Check ``timeout``, then take this handle's turn (threads sharing it) and the client's
        (its handles on one name, where the layout allows one contender per session) by the
        deadline. ``(wait, deadline)``, or None if either was not free in time."""
        timeout = wait_seconds(timeout)
        self._forget_lost()
        now = time.monotonic()
        deadline = now if not blocking else None if timeout is None or timeout < 0 else now + timeout
        wait = deadline is None or deadline > now
        if not take(self._busy, wait, deadline):
            return None
        self._owner = threading.get_ident()
        self._calls_by = deadline if wait else None
        if self._guard is not None and not take(self._guard, wait, deadline):
            self._calls_by, self._owner = None, None
            self._busy.release()
            return None
        with self._mutex:
            self._guard_held = self._guard is not None
        return wait, deadline

    def _connected(self, deadline: float | None) -> bool:
        """Wait until the session is CONNECTED (False: the deadline passed first) and make its
        generation ours; raises if the session is closed or lost for good."""
        session = self.session
        session.ensure_usable()
        if not session.wait_for(SessionState.CONNECTED, remaining_time(deadline)):
            return False
        self._wake.clear()  # before any read: a wake-up after it must not be lost
        self.generation = session.generation
        return True

    def _placed(self, view: QueueView) -> QueueView:
        """Our place, with the others' values when the policy reads them."""
        self.mine = view.mine
        if self.policy.values and view.position >= 0:
            contenders, revision = self.client.backend.queue_list(
                self.path, values=True, timeout=call_time(self._calls_by)
            )
            view = QueueView(view.mine, contenders, revision)
        if view.position < 0:
            raise CoordkitError(
                f"{self.what} {self.path}: the store did not list the contender "
                f"{view.mine.key} it had just created; refusing to go on"
            )
        return view

    def _end_enter(self, entered: bool) -> None:
        if not self.held:
            self.session.remove_listener(self._on_session)
            self._leave_quietly()
        self._calls_by = None  # a release or later removal gets the operation timeout
        if entered:
            self._entered = True
            return
        self._drop_guard()
        self._owner = None
        self._busy.release()

    def _rejoin(
        self, value: bytes, attempt: str, deadline: float | None, first: CoordkitError
    ) -> QueueView | Literal[False] | None:
        """The join ``attempt`` retried until confirmed (see :mod:`._join`); if it is given
        up, what it may have left is removed once the session is back."""
        joined = join_again(
            self.client,
            self.path,
            value,
            unique=self.policy.unique,
            attempt=attempt,
            deadline=deadline,
            calls_by=self._calls_by,
            settle=lambda deadline: settle(self.session, self.generation, deadline),
            first=first,
        )
        if joined is False:
            self._abandon(attempt)
        return joined

    def _abandon(self, attempt: str) -> None:
        """The client-wide guard stays taken until the unconfirmed contender is removed, so
        that no other handle of this client joins the same queue meanwhile and is mistaken
        for it."""
        with self._mutex:
            guard_moves, self._guard_held = self._guard_held, False
        done = self._guard.release if guard_moves and self._guard is not None else None
        remove = unconfirmed_remover(self.client, self.path, attempt, unique=self.policy.unique)
        what = f"an unconfirmed contender under {self.path}"
        when_connected(self.client, cleanup_generation(self.client, self.generation), remove, what, done=done)

    def _wait_admitted(self, view: QueueView, wait: bool, deadline: float | None) -> bool | None:
        """True admitted, False gave up, None: our contender is gone, join again."""
        while True:
            settled = settle(self.session, self.generation, deadline)
            if settled is not True:
                return settled
            if view.position < 0:
                return None
            if self.policy.admits(view):
                with self._mutex:
                    if self.session.is_current(self.generation):
                        self.held, self.held_since = True, time.monotonic()
                        self.lost.reset()
                        return True
                continue  # the session changed meanwhile: settle again
            remaining = remaining_time(deadline)
            if not wait or remaining == 0:
                return False
            try:
                self._wait_for_departure(view, remaining)
                self._wake.clear()  # before the read: a departure after it wakes us again
                contenders, revision = self.client.backend.queue_list(
                    self.path, values=self.policy.values, timeout=call_time(self._calls_by)
                )
            except BackendUnavailableError:
                continue  # SUSPENDED: settle, keeping our place
            view = QueueView(view.mine, contenders, revision)

    def _wait_for_departure(self, view: QueueView, remaining: float | None) -> None:
        if self.policy.slots > 1:  # a semaphore waiter: any of its window (see ._departures)
            nearest, since = window(view, self.policy.slots), view.revision
            self.client.backend.wait_any_gone(nearest, remaining, self._wake, since_revision=since)
            return
        # A lock or election waits for exactly the contender right ahead (a reader of a
        # read/write lock for the nearest writer ahead): no herd.
        if (ahead := self.policy.waits_for(view)) is not None:
            incarnation, since = ahead.create_revision, view.revision
            self.client.backend.wait_gone_since(
                ahead.key, remaining, self._wake, create_revision=incarnation, since_revision=since
            )

    # --- leaving ----------------------------------------------------------------------------
    def _forget_lost(self) -> None:
        """The thread whose acquisition was lost may acquire again without a release()
        (which would only report the loss, already told through ``lost``). Other threads
        sharing the handle wait for that thread's release, as with threading.Lock."""
        with self._mutex:
            stale = (
                self._entered
                and not self.held
                and self.lost.is_set()
                and self._owner == threading.get_ident()
            )
            if stale:
                self._entered = False
        if stale:
            self._finish_leave()

    def leave(self) -> None:
        """Give the place up. Raises OwnershipError if it was not held by this handle, or if
        it had been lost meanwhile (after removing what is left of the contender)."""
        still_held = self.held_now  # outside the mutex: it may declare the loss itself
        with self._mutex:
            if not self._entered:
                raise OwnershipError(f"{self.what} {self.path} is not held by this handle")
            self._entered = False
            was_held = still_held and self.held
            self.held = False
        self._finish_leave()
        if was_held and (probe := probes.active) is not None:
            probe.hold_ended(kind_of(self.what), time.monotonic() - self.held_since, False)
        if not was_held:
            raise OwnershipError(
                f"{self.what} {self.path} was lost before release "
                f"({self.lost_reason or 'session ended'}); work done under it since then may "
                "have overlapped another holder"
            )

    def _finish_leave(self) -> None:
        try:
            self._leave_quietly()
        finally:
            self.session.remove_listener(self._on_session)
            self._drop_guard()
            self._owner = None
            self._busy.release()

    def _leave_quietly(self) -> None:
        mine, self.mine = self.mine, None
        if mine is not None:  # a later removal belongs to cleanup_generation: it may be the next session's
            at = cleanup_generation(self.client, self.generation)
            leave_or_later(self.client, at, mine, call_time(self._calls_by), f"{self.what} {self.path}")
