"""Contenders removed now or, if the store does not confirm it, once their session is
CONNECTED again (:mod:`coordkit.core.when_connected`): a contender that could not be removed
must not block the others."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..core.when_connected import when_connected
from ..errors import BackendUnavailableError, CoordkitError

if TYPE_CHECKING:
    from ..backends.contender_queue import Contender
    from ..core.store import Store

__all__ = ["leave_or_later", "leave_when_connected"]

log = logging.getLogger(__name__)


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
