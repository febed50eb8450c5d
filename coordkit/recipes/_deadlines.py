"""Small helpers of the contender queue: deadlines, timeouts, and cleanups that wait for a
session to be CONNECTED again."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tenacity import Retrying, retry_if_exception_type, wait_random_exponential

from ..backends.base import Watch, WatchCallback
from ..errors import BackendUnavailableError, ConfigurationError, CoordkitError
from ..session import SessionEvent, SessionState

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["call_time", "check_timeout", "remaining_time", "take", "watch_within", "when_connected"]

log = logging.getLogger(__name__)


def take(lock: threading.Lock, wait: bool, deadline: float | None) -> bool:
    if not wait:
        return lock.acquire(False)
    if deadline is None:
        return lock.acquire()
    return lock.acquire(True, max(0.0, deadline - time.monotonic()))


def check_timeout(timeout: object, what: str = "timeout") -> float | None:
    """None (wait for ever) or a number of seconds; inf, or more than a thread can wait for
    (threading.TIMEOUT_MAX, some 290 years), means None. ConfigurationError else."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise ConfigurationError(f"{what} must be a number of seconds or None, not {timeout!r}")
    return None if timeout >= threading.TIMEOUT_MAX else float(timeout)


def remaining_time(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


#: The least time a store call gets when its caller's deadline is (nearly) spent: enough for
#: one round trip to a live server (e.g. removing the contender of a wait that timed out).
MIN_CALL_TIME = 0.25


def call_time(deadline: float | None) -> float | None:
    """The time limit of one store call made before ``deadline``: what remains of it (at
    least :data:`MIN_CALL_TIME`), or None (the operation timeout) when there is no deadline.
    The backend takes the shorter of this and its operation timeout, so that a wait bounded
    by ``timeout`` does not overrun it by an operation timeout while the store is unreachable."""
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), MIN_CALL_TIME)


def watch_within(client: Client, path: str, callback: WatchCallback, wait: bool,
                 deadline: float | None) -> Watch | None:
    """A prefix watch of ``path`` started by ``deadline`` (each try bounded by it), retried
    through an outage as a join is. None once the deadline passed, or at the first failure
    when not ``wait``ing: the caller then gives up as if it had timed out."""
    while True:
        try:
            return client.backend.watch(path, callback, prefix=True, timeout=call_time(deadline))
        except BackendUnavailableError as exc:
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                log.info("coordkit: cannot watch the queue %s (%s)", path, exc)
                return None
            client.session.wait_for(SessionState.CONNECTED, remaining_time(deadline))


def when_connected(client: Client, generation: int, action: Callable[[], None], what: str,
                   done: Callable[[], None] | None = None) -> None:
    """Run ``action`` once session ``generation`` is CONNECTED (now, if it is), retrying
    while that session lives; give up when it ends (its ephemeral keys go with it). ``done``
    runs afterwards in every case."""
    session = client.session
    started = threading.Event()

    def run() -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(BackendUnavailableError),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            stop=lambda state: session.generation != generation or session.state is SessionState.CLOSED,
            reraise=True,
        )
        try:
            for try_ in retrying:
                with try_:
                    if session.generation == generation:
                        action()
        except CoordkitError as exc:
            log.info("coordkit: %s left to the end of its session: %s", what, exc)
        finally:
            if done is not None:
                done()

    def start() -> None:
        if not started.is_set():
            started.set()
            threading.Thread(target=run, name="coordkit-contender-cleanup", daemon=True).start()

    def listener(event: SessionEvent) -> None:
        if event.generation != generation or event.state in (SessionState.LOST, SessionState.CLOSED):
            session.remove_listener(listener)
            if not started.is_set() and done is not None:
                started.set()
                done()  # the session ended: nothing is left to remove
        elif event.state is SessionState.CONNECTED:
            session.remove_listener(listener)
            start()

    session.add_listener(listener)
    if session.is_current(generation):
        session.remove_listener(listener)
        start()
    elif session.generation != generation or session.state is SessionState.CLOSED:
        session.remove_listener(listener)
        if not started.is_set() and done is not None:
            started.set()
            done()
