"""A join of a contender queue whose first try was not confirmed (the store did not answer).

The join may have been applied all the same. Every try of one join carries the same attempt
id, which the backend writes into the contender's key, so that a retry finds the contender the
unanswered try created instead of queueing a second one ahead of itself (a ghost that would
block its own creator). A join given up unconfirmed leaves a contender to remove once the
session is back: :func:`unconfirmed_remover` finds it by that attempt id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from tenacity import Retrying, retry_if_exception_type

from ..backends.contender_queue import QueueView
from ..core.retry import QUICK, by_deadline
from ..errors import BackendUnavailableError, CoordkitError, SessionLostError
from ._deadlines import call_time

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["join_again", "unconfirmed_remover"]

log = logging.getLogger("coordkit.recipes._contention")  # where these lines were always logged
Settle = Callable[[float | None], bool | None]


def join_again(
    store: Store,
    path: str,
    value: bytes,
    *,
    unique: bool,
    attempt: str,
    deadline: float | None,
    calls_by: float | None,
    settle: Settle,
    first: CoordkitError,
) -> QueueView | Literal[False] | None:
    """Retry the join ``attempt`` until it is confirmed, each try once ``settle(deadline)``
    says the session is CONNECTED. The queue as the join left it; None if the session was
    replaced meanwhile (join afresh); False if the deadline passed first (the caller then
    removes what the join may have left, with :func:`unconfirmed_remover`)."""
    log.info("coordkit %s: join not confirmed (%s); retrying", path, first)
    retrying = Retrying(
        retry=retry_if_exception_type((BackendUnavailableError, SessionLostError)),
        wait=QUICK,
        stop=by_deadline(deadline),
        reraise=True,
    )
    try:
        for try_ in retrying:
            with try_:
                settled = settle(deadline)
                if settled is None:
                    return None
                if settled is False:
                    break
                return store.backend.queue_join(
                    path, value, unique=unique, attempt=attempt, timeout=call_time(calls_by)
                )
    except (BackendUnavailableError, SessionLostError):
        pass
    return False


def unconfirmed_remover(store: Store, path: str, attempt: str, *, unique: bool) -> Callable[[], None]:
    """A call that removes the contender the join ``attempt`` may have created under ``path``:
    the one whose key carries the attempt id (in any of the spellings the layouts use), or,
    where a session has one contender per queue (``unique`` off: etcd's layout), the key
    named after the session."""
    marks = (attempt, attempt[:12], str(uuid.UUID(hex=attempt)))
    backend = store.backend

    def remove() -> None:
        for contender in backend.queue_list(path)[0]:
            last = contender.key.rsplit("/", 1)[-1]
            if any(m in last for m in marks) or (not unique and last == f"{store.session.session_id:x}"):
                backend.queue_leave(contender)

    return remove
