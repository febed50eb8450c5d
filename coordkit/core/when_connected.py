"""Background work that needs its session CONNECTED: a removal the store did not confirm
(a contender left at an unanswered release, a write given up unconfirmed) must not stay in the
way, so it runs as soon as the session is back, retried while that session lives, and is left
to the session's end if the session is lost instead (its ephemeral keys go with it).

A write cut off while the session was being replaced may have gone out with the new session's
lease (the lease changes before the new generation is announced), so what it left is looked
for in the generation :func:`cleanup_generation` names: the one it was sent under while that
lives, else the one after."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tenacity import Retrying, retry_if_exception_type

from ..errors import BackendUnavailableError, CoordkitError
from .retry import PATIENT, until
from .states import SessionEvent, SessionState

if TYPE_CHECKING:
    from .store import Store

__all__ = ["cleanup_generation", "when_connected"]

log = logging.getLogger(__name__)

_OVER = (SessionState.LOST, SessionState.CLOSED)  # a generation never comes back from these


def cleanup_generation(client: Store, sent_under: int) -> int:
    """The session generation in which to remove what a write sent under generation
    ``sent_under`` may have left: that one while it lives; once it is over (LOST, or
    replaced), the one after it, on whose lease a write cut off by the replacement may have
    landed. (A write lands on no later one: each replacement waits for its predecessor's.)"""
    # One look under the session's lock: a replacement between two reads would pass for alive.
    return sent_under if client.session.owns(sent_under, while_suspended=True) else sent_under + 1


def when_connected(
    client: Store,
    generation: int,
    action: Callable[[], None],
    what: str,
    done: Callable[[], None] | None = None,
) -> None:
    """Run ``action`` once session ``generation`` is CONNECTED (now, if it is), retrying
    while that session lives; give up when it ends (LOST or CLOSED, now or later: its
    ephemeral keys go with it). ``generation`` may be the one after the current (see
    :func:`cleanup_generation`): it is then waited for, unless the client closes first.
    ``done`` runs afterwards in every case, once (however the session's events and this call
    race, and if no thread can be started for the work)."""
    session = client.session
    claim = threading.Lock()  # whoever takes it first decides: run, or (the session over) done

    def run() -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(BackendUnavailableError),
            wait=PATIENT,  # background work waiting out an outage
            stop=until(ended),
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

    def ended() -> bool:
        if session.generation == generation:
            return session.state in _OVER
        # A later generation: ours is over. An earlier one: ours is still to come, unless closed.
        return session.generation > generation or session.state is SessionState.CLOSED

    def start() -> None:
        if claim.acquire(blocking=False):
            try:
                threading.Thread(target=run, name="coordkit-session-cleanup", daemon=True).start()
            except RuntimeError as exc:  # no thread to be had: left to the session's end
                log.warning("coordkit: %s left to the end of its session: %s", what, exc)
                if done is not None:
                    done()

    def over() -> None:  # the session ended: nothing is left to remove
        if claim.acquire(blocking=False) and done is not None:
            done()

    def listener(event: SessionEvent) -> None:
        if event.generation < generation and event.state is not SessionState.CLOSED:
            return  # news of an earlier generation: ours is still to come
        if event.generation != generation or event.state in _OVER:
            session.remove_listener(listener)
            over()
        elif event.state is SessionState.CONNECTED:
            session.remove_listener(listener)
            start()

    session.add_listener(listener)
    if session.is_current(generation):
        session.remove_listener(listener)
        start()
    elif ended():  # also LOST with its event already heard: no event will come
        session.remove_listener(listener)
        over()
