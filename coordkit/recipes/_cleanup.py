"""Removals that wait for a session to be CONNECTED again: a contender that could not be
removed (the store unreachable at release, a join given up unconfirmed) must not block the
others, so it is removed as soon as its session is back, and left to the session's end if the
session is lost instead (its ephemeral keys go with it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tenacity import Retrying, retry_if_exception_type

from ..core.retry import PATIENT, until
from ..core.states import SessionEvent, SessionState
from ..errors import BackendUnavailableError, CoordkitError

if TYPE_CHECKING:
    from ..backends.contender_queue import Contender
    from ..core.store import Store

__all__ = ["leave_or_later", "leave_when_connected", "when_connected"]

log = logging.getLogger(__name__)


def when_connected(
    client: Store,
    generation: int,
    action: Callable[[], None],
    what: str,
    done: Callable[[], None] | None = None,
) -> None:
    """Run ``action`` once session ``generation`` is CONNECTED (now, if it is), retrying
    while that session lives; give up when it ends (its ephemeral keys go with it). ``done``
    runs afterwards in every case."""
    session = client.session
    started = threading.Event()

    def run() -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(BackendUnavailableError),
            wait=PATIENT,  # background work waiting out an outage
            stop=until(lambda: session.generation != generation or session.state is SessionState.CLOSED),
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


def leave_when_connected(client: Store, generation: int, mine: Contender) -> None:
    """Remove the contender ``mine`` once session ``generation`` is CONNECTED again."""
    when_connected(
        client, generation, lambda: client.backend.queue_leave(mine), f"stale contender {mine.key}"
    )


def leave_or_later(client: Store, generation: int, mine: Contender, timeout: float | None, what: str) -> None:
    """Remove the contender ``mine`` now, or, if the store does not confirm it in ``timeout``,
    once the session is back; a contender gone with its session is fine. ``what`` names the
    recipe in the log lines."""
    try:
        client.backend.queue_leave(mine, timeout=timeout)
    except BackendUnavailableError as exc:
        log.warning("coordkit %s: removal not confirmed (%s); retrying when reconnected", what, exc)
        leave_when_connected(client, generation, mine)
    except CoordkitError as exc:  # session lost: the key went with it
        log.info("coordkit %s: contender already gone (%s)", what, exc)
