"""A session that is never opened: what a read-only client (``connect(..., session=False)``) has.

Reads, watches and plain writes need no session; on etcd opening one costs two writes (a
lease grant, and its revoke at close) and a heartbeat thread. A read-only client connects
without one (:meth:`~coordkit.backends.base.Backend.connect_without_session`): its state is
CONNECTED from the connect to the close, it owns nothing, and whatever would belong to a
session (ephemeral keys, locks, elections, registrations) is refused with
:func:`session_required` before anything is sent.
"""

from __future__ import annotations

import time

from ..errors import ConfigurationError
from .session import Session
from .states import SessionState

__all__ = ["SessionlessSession", "session_required"]


def session_required(what: str) -> ConfigurationError:
    """The error for ``what`` (e.g. "an ephemeral put") asked of a client with no session."""
    return ConfigurationError(
        f"{what} needs a session, and this client was connected with session=False "
        "(read-only): connect without session=False"
    )


class SessionlessSession(Session):
    """No lease, no heartbeat, no listener thread: CONNECTED until closed, never LOST (there is
    nothing to lose), and :meth:`owns` is False for every generation."""

    has_session = False

    def open(self) -> None:
        """Reach the servers (one read on etcd) without opening a session; raises as
        :meth:`Session.open` does, and then nothing is left open."""
        self._backend.connect_without_session(
            self._on_connection_event, ttl=self._asked_ttl, timeout=self._timeout
        )
        with self._cond:
            self._last_heard = time.monotonic()
            self._state = SessionState.CONNECTED
        # kazoo's session is still one the server may clamp (etcd has none: no warning).
        self._report_granted_ttl()

    def owns(self, generation: int, *, while_suspended: bool = False) -> bool:
        return False

    def expire_now(self, reason: str = "expired on request") -> None:
        raise session_required("expire_session()")

    def _expire_if_due(self) -> None:
        # No TTL runs: a read-only client stays usable however long it waits.
        return

    def _on_connection_event(self, event: object) -> None:
        # Nothing is owned, so a dropped link or an expired kazoo session changes nothing a
        # caller may assume: each read reports its own failure.
        return
