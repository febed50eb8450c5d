"""Background work that needs its session CONNECTED: a removal the store did not confirm
(a contender left at an unanswered release, a write given up unconfirmed) must not stay in the
way, so it runs as soon as the session is back, retried while that session lives, and is left
to the session's end if the session is lost instead (its ephemeral keys go with it)."""

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

__all__ = ["when_connected"]

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
    runs afterwards in every case, once (however the session's events and this call race)."""
    session = client.session
    claim = threading.Lock()  # whoever takes it first decides: run, or (the session over) done

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
        if claim.acquire(blocking=False):
            threading.Thread(target=run, name="coordkit-contender-cleanup", daemon=True).start()

    def over() -> None:  # the session ended: nothing is left to remove
        if claim.acquire(blocking=False) and done is not None:
            done()

    def listener(event: SessionEvent) -> None:
        if event.generation != generation or event.state in (SessionState.LOST, SessionState.CLOSED):
            session.remove_listener(listener)
            over()
        elif event.state is SessionState.CONNECTED:
            session.remove_listener(listener)
            start()

    session.add_listener(listener)
    if session.is_current(generation):
        session.remove_listener(listener)
        start()
    elif session.generation != generation or session.state is SessionState.CLOSED:
        session.remove_listener(listener)
        over()
