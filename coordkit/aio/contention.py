"""One async handle's place in a contender queue: the queue protocol of the sync recipes
(:mod:`coordkit.backends.contender_queue`, the same policies from :mod:`coordkit.recipes._policy`)
awaited on one loop, so sync and async contenders of one name queue together.

Waiting holds no thread: the handles of one client and name take turns on an
``asyncio.Lock`` (first come, first served, as the sync client's local guard), and the one
that queues in the store waits for the contender ahead with the backend's departure watch
(a semaphore waiter for the few nearest ahead, :mod:`.departures`), woken through the loop.
Ownership follows the session exactly as in the sync recipes (:mod:`coordkit.recipes._contention`):
SUSPENDED (unless ``lose_on_suspend=False``) and LOST end a holding at once; a waiter keeps its
place while SUSPENDED and joins again after LOST.

Cancellation: a join in flight when its caller is cancelled (or times out) is finished in the
background and its contender removed (once the session is back, if the join ended unanswered);
a removal is shielded, so a cancelled release still removes the contender. Either runs as a
task of the client, cancelled only by closing the client, which ends the session and with it
every contender.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..backends import probe as probes
from ..backends.async_ops import Started
from ..backends.contender_queue import Contender, QueueView
from ..core.durations import wait_seconds
from ..core.states import SessionEvent, SessionState
from ..core.when_connected import cleanup_generation, when_connected
from ..errors import BackendUnavailableError, CoordkitError, OwnershipError, SessionLostError
from ..names import recipe_name
from ..recipes._departures import window
from ..recipes._join import unconfirmed_remover
from ..recipes._observe import observed_aenter
from ..recipes._policy import Policy

if TYPE_CHECKING:
    from .store import AsyncStore
from ..core.async_deadline import timeout_at
from .departures import wait_any_gone
from .turns import NameTurn, give_back, on_loop

__all__ = ["AsyncContention"]

log = logging.getLogger(__name__)
LostCallback = Callable[[str], None]
_FIRST_PAUSE, _LAST_PAUSE = 0.02, 0.5  # seconds between tries while the store is unreachable


class AsyncContention:
    """Internal: see AsyncLock and AsyncElection."""

    def __init__(self, client: AsyncStore, name: str, policy: Policy, *, lose_on_suspend: bool) -> None:
        self.client = client
        self.policy = policy
        self.what = policy.what
        self.path = recipe_name(name, f"{policy.what} name")
        self.lose_on_suspend = lose_on_suspend
        # One contender per session and name where the layout demands it (locks, elections):
        # the client's handles of that name take turns on a client-wide guard. Semaphores and
        # read/write locks allow several per session, so only this handle's own calls take turns
        # (as the sync recipes' per-handle lock).
        self._guard: asyncio.Lock | NameTurn = asyncio.Lock() if policy.unique else client._guard(self.path)
        self._entered = False  # acquired, not yet released
        self._turn = False  # this handle holds the guard
        self._unconfirmed: str | None = None  # a join attempt that may have landed unanswered
        self._in_flight: Started[QueueView] | None = None  # that attempt's call, if still running
        self._wake = asyncio.Event()  # a session change or a departure: look again
        self.mine: Contender | None = None
        self.generation = 0
        self.held = False
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._callbacks: list[LostCallback] = []
        self._told: tuple[int | None, SessionState, str] | None = None  # a loss told off the loop, by token

    @property
    def held_now(self) -> bool:
        """Held, and the session owns it by its state and clock right now; a loss told on
        another thread counts from then on, before its hand-over to the loop has run."""
        if not self.held:
            return False
        if (told := self._told) is not None and told[0] == self._token():  # a proclamation keeps the token
            if on_loop(self.client.loop):
                self._lose(*told[1:])
            return False
        if self.client.session.owns(self.generation, while_suspended=not self.lose_on_suspend):
            return True
        self._lose(SessionState.LOST, "ownership ended (session deadline or state), seen when asked")
        return False

    # --- loss -------------------------------------------------------------------------------
    def on_lost(self, callback: LostCallback) -> None:
        self._callbacks.append(callback)

    def _on_session(self, event: SessionEvent) -> None:
        """On the loop, for every session event while this handle waits or holds."""
        self._wake.set()
        ending = event.state in (SessionState.LOST, SessionState.CLOSED) or (
            event.state is SessionState.SUSPENDED and self.lose_on_suspend
        )
        if ending and event.generation == self.generation:
            self._lose(event.state, f"session {event.state.value}: {event.reason}")

    def contender_gone(self, token: int) -> None:
        """The store answered that our contender of ``token`` is gone (a refused fenced write):
        a proof, so the holding ends now, as in the sync recipe. Ignored for another token."""
        mine = self.mine
        if mine is None or mine.create_revision != token:
            return
        self._lose(
            SessionState.CONNECTED, f"the store no longer has the contender {mine.key} (token {token})"
        )

    def _lose(self, state: SessionState, reason: str, of: int | None = None) -> None:
        if not self.held or (of is not None and self._token() != of):  # of: the token seen off the loop
            return
        if not on_loop(self.client.loop):  # asked on a worker: a fenced write through client.sync
            self._told = (self._token(), state, reason)
            with contextlib.suppress(RuntimeError):  # the loop is closed: so is the client
                self.client.loop.call_soon_threadsafe(self._lose, state, reason, self._token())
            return
        self.held = False
        mine = self.mine
        if state in (SessionState.SUSPENDED, SessionState.CONNECTED) and mine is not None:
            # The key survives a recovered session and would block everybody behind it
            # (CONNECTED: the holding ended by a proof while the session stayed).
            backend = self.client.sync.backend
            when_connected(
                self.client.sync,
                self.generation,
                lambda: backend.queue_leave(mine),
                f"stale contender {mine.key}",
            )
        if self._turn and not self.policy.unique:
            # Other handles of this client may contend again at once, as in the sync recipe.
            self._turn = False
            self._guard.release()
        self.lost_reason = reason
        self.lost.set()
        log.warning("coordkit %s %s lost: %s", self.what, self.path, reason)
        for callback in list(self._callbacks):
            try:
                callback(reason)
            except Exception:
                log.exception("coordkit %s loss callback failed", self.what)

    # --- entering ---------------------------------------------------------------------------
    async def enter(self, value: bytes, *, blocking: bool, timeout: float | None) -> bool:
        """Join and wait for admission. True once admitted; False if not ``blocking`` and not
        admitted at once, or once ``timeout`` passed: the contender is then removed, as it is
        when the caller is cancelled (CancelledError propagates). With a probe active (metrics),
        the wait and its outcome are told to it, as the sync recipes do."""
        again = functools.partial(self._enter, value, blocking=blocking, timeout=timeout)
        if (probe := probes.active) is None:
            return await again()
        return await observed_aenter(probe, self.what, self.client.kind, again, self._token, blocking)

    def _token(self) -> int | None:
        return None if self.mine is None else self.mine.create_revision

    async def _enter(self, value: bytes, *, blocking: bool, timeout: float | None) -> bool:
        client = self.client
        client._check()
        seconds = wait_seconds(timeout)
        if self._entered and not self.held_now and self.lost.is_set():  # held_now: a loss told off the loop
            await self._finish()  # acquiring again after a loss needs no release first
        deadline = None if seconds is None else client.loop.time() + max(0.0, seconds)
        if not blocking and self._guard.locked():
            return False
        try:  # not blocking: free, unless a woken waiter is about to take it (then give up)
            async with timeout_at(deadline if blocking else client.loop.time()):
                await self._guard.acquire()
        except TimeoutError:
            return False
        self._turn = True
        admitted = False
        client._listen(self._on_session)
        try:
            admitted = await self._queue(value, None if not blocking else deadline, wait=blocking)
            return admitted
        finally:
            if admitted:
                self._entered = True
            else:
                client._unlisten(self._on_session)
                attempt, self._unconfirmed = self._unconfirmed, None
                join, self._in_flight = self._in_flight, None
                self._turn = False
                if attempt is None or client.closed:  # closed: the session's end removes it
                    self._guard.release()
                elif join is not None:  # cancelled while the join was under way
                    client._spawn(self._undo(join, attempt))
                else:
                    self._abandon(attempt)

    async def _queue(self, value: bytes, deadline: float | None, *, wait: bool) -> bool:
        try:
            async with timeout_at(deadline):
                while True:
                    await self._connected()
                    view = await self._join(value)
                    if view is not None:
                        admitted = await self._admitted(view, wait)
                        if admitted is not None:
                            return admitted
                    await self._leave()  # our contender went with its session: join again
        except TimeoutError:
            return False
        finally:
            if not self.held:
                await self._leave()

    async def _connected(self) -> None:
        """Until the session is CONNECTED; makes its generation ours."""
        session = self.client.session
        while True:
            session.ensure_usable()
            if session.state is SessionState.CONNECTED:
                self.generation = session.generation
                return
            self._wake.clear()  # then look again: a change between the two looks is not lost
            if not session.owns(session.generation):
                await self._wake.wait()  # the session listener sets it

    async def _join(self, value: bytes) -> QueueView | None:
        """Our contender and the queue (None: the session was replaced). A join not confirmed
        (BackendUnavailableError) is repeated with the same attempt id, which finds the
        contender it may have made instead of queueing a second one."""
        client, attempt, pause = self.client, uuid.uuid4().hex, _FIRST_PAUSE
        while True:
            join = client._ops.start_queue_join(
                self.path, value, unique=self.policy.unique, attempt=attempt, spawn=client._spawn
            )
            self._unconfirmed, self._in_flight = attempt, join
            try:
                view = await join.answer  # a cancel leaves the join running: see _undo
            except SessionLostError:
                self._unconfirmed = self._in_flight = None  # its contender went with that session
                return None
            except BackendUnavailableError as exc:
                self._in_flight = None
                log.info("coordkit %s %s: join not confirmed (%s); retrying", self.what, self.path, exc)
                await asyncio.sleep(pause)  # back-off; the deadline bounds the retries
                pause = min(pause * 2, _LAST_PAUSE)
                await self._connected()
                continue
            self._unconfirmed = self._in_flight = None
            self.mine = view.mine
            if client.session.generation != self.generation:
                return None
            return view

    def _abandon(self, attempt: str) -> None:
        """A join given up unconfirmed may have made a contender: remove it once the session is
        back, as the sync recipe does, keeping the client's turn on the name (the guard) until
        then: no other handle of it may join meanwhile (etcd: a lock's key is the session's)."""
        store, loop = self.client.sync, self.client.loop
        done = functools.partial(give_back, self._guard, loop)  # on the cleanup's thread
        remove = unconfirmed_remover(store, self.path, attempt, unique=self.policy.unique)
        # This session, or the next if it is over: the join may have landed on one replacing ours.
        what = f"an unconfirmed contender under {self.path}"
        when_connected(store, cleanup_generation(store, store.session.generation), remove, what, done=done)

    async def _undo(self, join: Started[QueueView], attempt: str) -> None:
        """After a cancelled join: let it end, then remove what it made, holding the client's
        turn on the name (the guard) until then; :meth:`_abandon` takes it over."""
        abandoned = False
        try:
            view = await join.ended()
            await self._remove(view.mine)
        except BackendUnavailableError:  # it may have landed all the same
            self._abandon(attempt)
            abandoned = True  # _abandon gives the turn on once it has run
        except CoordkitError:
            pass  # refused, or its session is gone and the contender with it
        except asyncio.CancelledError:  # the client closing (its session takes it), or the loop
            if not self.client.closed:
                self._abandon(attempt)
                abandoned = True
            raise
        finally:
            if not abandoned:
                self._guard.release()

    async def _admitted(self, view: QueueView, wait: bool) -> bool | None:
        """True admitted, False not admitted without ``wait``, None: our contender is gone, or
        of a session since replaced (which the server may still hold: join again)."""
        ops, session, pause = self.client._ops, self.client.session, _FIRST_PAUSE
        # A join's view carries no values (ZooKeeper lists names only): a policy that reads
        # them (read/write locks) decides on a listing with values, as the sync recipe does.
        listed, joined_in = not self.policy.values, self.generation
        while True:
            if view.position < 0 or session.generation != joined_in:
                return None
            if listed and session.state is SessionState.CONNECTED and self.policy.admits(view):
                self.held = True
                self.lost.clear()
                self.lost_reason = ""
                return True
            if listed and not wait:
                return False
            try:
                if not listed:
                    pass  # read the values first
                elif session.state is SessionState.CONNECTED and self.policy.slots > 1:
                    self._wake.clear()  # then wait: a session change after this wakes us
                    nearest = window(view, self.policy.slots)  # see recipes/_departures.py
                    await wait_any_gone(ops, nearest, self._wake, view.revision)
                elif session.state is SessionState.CONNECTED:
                    blocker = self.policy.waits_for(view)
                    self._wake.clear()
                    if blocker is not None:
                        await ops.wait_gone(blocker.key, blocker.create_revision, self._wake, view.revision)
                else:
                    await self._connected()
                contenders, revision = await ops.queue_list(self.path, values=self.policy.values)
            except BackendUnavailableError as exc:
                # An unreachable store is waited out like a taken lock, by the caller's deadline.
                log.info("coordkit %s %s: cannot look at the queue (%s)", self.what, self.path, exc)
                await asyncio.sleep(pause)  # back-off between tries, not a wait for an event
                pause = min(pause * 2, _LAST_PAUSE)
                await self._connected()
                continue
            pause, listed = _FIRST_PAUSE, True
            view = QueueView(view.mine, contenders, revision)

    # --- leaving ------------------------------------------------------------------------------
    async def leave(self) -> None:
        """Give the place up; raises OwnershipError if not held by this handle, or if it had
        been lost meanwhile (the contender is removed all the same)."""
        self.client._check()
        if not self._entered:
            raise OwnershipError(f"{self.what} {self.path} is not held by this handle")
        was_held = self.held_now
        self.held = False
        await self._finish()
        if not was_held:
            raise OwnershipError(
                f"{self.what} {self.path} was lost before release "
                f"({self.lost_reason or 'session ended'}); work done under it since then may "
                "have overlapped another holder"
            )

    async def _finish(self) -> None:
        self._entered = False
        try:
            await self._leave()
        finally:
            self.client._unlisten(self._on_session)
            if self._turn:  # not given up at a loss already
                self._turn = False
                self._guard.release()

    async def _leave(self) -> None:
        """Remove our contender; a caller cancelled meanwhile still has it removed (a removal
        is idempotent, so it is sent again in the background rather than guessed about)."""
        mine, self.mine = self.mine, None
        if mine is None or self.client.closed:  # closed: the session took it along
            return
        try:
            await self._remove(mine)  # awaited in place: no task on the path of every release
        except asyncio.CancelledError:
            self.client._spawn(self._remove(mine))
            raise

    async def _remove(self, mine: Contender) -> None:
        client = self.client
        try:
            await client._ops.queue_leave(mine)
        except BackendUnavailableError as exc:
            what, backend = f"{self.what} {self.path}", client.sync.backend
            log.warning("coordkit %s: removal not confirmed (%s); retrying when reconnected", what, exc)
            generation = cleanup_generation(client.sync, self.generation)  # it may be of the next session
            when_connected(
                client.sync, generation, lambda: backend.queue_leave(mine), f"stale contender {mine.key}"
            )
        except CoordkitError as exc:  # the session ended: the key went with it
            log.info("coordkit %s %s: contender already gone (%s)", self.what, self.path, exc)
