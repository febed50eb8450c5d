"""Session states and the events that report them.

A client owns exactly one session at a time. Ephemeral keys, locks, leaderships and
registrations belong to it. The states, and what a caller may assume in each:

CONNECTED
    The session is alive and the client heard from the server within the TTL.
SUSPENDED
    The client cannot reach the servers. The session *may* survive (if the link comes back
    within the TTL) but nothing held through it is safe: do not act as owner.
LOST
    The session is gone, and with it every ephemeral key. The client declares LOST either
    when the server says so or, by its own clock, when the TTL has passed since it last
    heard from the server, even while disconnected. It then opens a new session by itself
    (a new :attr:`Session.generation`) and reports CONNECTED again.
CLOSED
    The owner closed the client. Terminal.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SessionEvent", "SessionListener", "SessionState"]


class SessionState(enum.Enum):
    """Where the client's session stands; the module docstring says what each state allows."""

    CONNECTED = "connected"
    SUSPENDED = "suspended"
    LOST = "lost"
    CLOSED = "closed"


@dataclass(frozen=True)
class SessionEvent:
    """A state change. ``generation`` counts sessions: it grows by one with every new
    session, so a holder can tell whether an event is about the session it holds through."""

    state: SessionState
    previous: SessionState
    session_id: int
    generation: int
    reason: str = ""


SessionListener = Callable[[SessionEvent], None]
