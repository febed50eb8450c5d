"""Core calls told to the active probe (:mod:`coordkit.backends.probe`) when metrics are on.

Kept out of :mod:`.session` so that the session reads as the session: each helper costs one
test of a global when no probe is installed.
"""

from __future__ import annotations

import time

from ..backends import probe as probes
from ..backends.base import Backend
from ..errors import ClosedError

__all__ = ["keepalive"]


def keepalive(backend: Backend, timeout: float) -> None:
    """One heartbeat round trip of ``backend``, told to the probe: its round trip, and a miss
    when it raises (but for a close, which is no miss). Raises what ``keepalive`` raises."""
    probe = probes.active
    if probe is None:
        backend.keepalive(timeout)
        return
    sent = time.monotonic()
    try:
        backend.keepalive(timeout)
    except ClosedError:
        raise
    except BaseException:
        probe.keepalive(backend.kind, time.monotonic() - sent, False)
        raise
    probe.keepalive(backend.kind, time.monotonic() - sent, True)
