"""Every retry policy coordkit uses, named once (tenacity's waits and stops).

A retry in coordkit is one of these waits, bounded by one of these stops, on the errors its
caller names; nothing else hand-sets a back-off shape. Users who pass their own ``retry=``
(a ``tenacity.Retrying``) to :func:`coordkit.connect` or a balancer build it from the same
parts.

Waits (all jittered, so that many clients failing together do not retry in step):

- :data:`QUICK`: 20 ms doubling to 0.5 s. A call a caller is waiting for, which will most
  likely work soon: a leader election among the servers, a contended write.
- :data:`PATIENT`: 50 ms doubling to 2 s. Background work that waits out an outage:
  re-registering after a lost session, following configuration, reopening a watch.
- :data:`NEW_SESSION`: 50 ms doubling to 1 s. Opening a new session after one was lost:
  every owner of the client waits for it.
- :data:`POLL`: a fixed 50 ms. Waiting for a condition that no event announces (a local
  server's first answer).
- :data:`AT_ONCE`: no pause. A retry that goes elsewhere: the balancer's next attempt picks
  another instance, so waiting would only add latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import RetryCallState, wait_fixed, wait_none, wait_random_exponential
from tenacity.stop import stop_base
from tenacity.wait import wait_base

__all__ = ["AT_ONCE", "NEW_SESSION", "PATIENT", "POLL", "QUICK", "by_deadline", "until"]

QUICK: wait_base = wait_random_exponential(multiplier=0.02, max=0.5)
PATIENT: wait_base = wait_random_exponential(multiplier=0.05, max=2.0)
NEW_SESSION: wait_base = wait_random_exponential(multiplier=0.05, max=1.0)
POLL: wait_base = wait_fixed(0.05)
AT_ONCE: wait_base = wait_none()


class until(stop_base):  # noqa: N801 - a tenacity policy, named like tenacity's own
    """Stop once ``condition()`` holds (a handle closed, a session replaced, a cancel)."""

    def __init__(self, condition: Callable[[], bool]) -> None:
        self._condition = condition

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._condition()


class by_deadline(stop_base):  # noqa: N801 - a tenacity policy, named like tenacity's own
    """Stop once the monotonic clock reaches ``deadline`` (None: never)."""

    def __init__(self, deadline: float | None) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline
