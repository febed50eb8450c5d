"""``eventually()``: wait, with a deadline, for a condition that something else will make true.

Use it where no event exists to wait on (another process's state, a server's log, a count that a
watch updates). Where an event does exist (a ``threading.Event``, a queue, a session listener),
wait on it instead: that wakes at once instead of on the next poll.

    from coordkit.testing import eventually

    entry = eventually(lambda: client.get("/jobs/42"), message="job 42 written")

    def leader_is_b() -> bool:
        assert election.leader() == "b"     # the AssertionError is reported if time runs out
        return True                          # None would mean "not yet", as for a failed lookup

    eventually(leader_is_b, timeout=5)

The retrying is tenacity's (a ``Retrying`` with a delay stop), so its behaviour is the one the
rest of coordkit relies on; this module only adds the test-friendly failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, retry_if_result
from tenacity.stop import stop_after_delay

__all__ = ["eventually"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 0.02


def eventually(
    check: Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    message: str | None = None,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``check`` until it passes, and return what it returned the time it passed.

    ``check`` passes when it returns a truthy value; returning a falsy value or raising
    ``AssertionError`` (or one of the ``ignoring`` exception types, e.g. a connection error while
    a server restarts) means "not yet". ``None`` is falsy too, so that a lookup can be the check
    (``lambda: client.get(key)``): a check written as assertions ends with ``return True``.
    It is called at once, then every ``interval`` seconds, and a last time at the deadline,
    ``timeout`` seconds after the first call (a ``timeout`` of 0 checks once). Any other
    exception from ``check`` propagates at once: it is a bug, not a wait.

    On timeout raises ``AssertionError`` naming what was awaited (``message``, else the name of
    ``check``), the timeout, and the last falsy value or the last exception (also chained as
    ``__cause__``). Raises ``ValueError`` for a negative or non-finite ``timeout`` or an
    ``interval`` that is not positive.
    """
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"eventually(): timeout must be a finite number of seconds >= 0, not {timeout!r}")
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"eventually(): interval must be a finite number of seconds > 0, not {interval!r}")

    def wait(state: RetryCallState) -> float:
        # Never sleep past the deadline: the last check happens at it, not up to an interval later.
        elapsed = state.seconds_since_start or 0.0
        return max(0.0, min(interval, timeout - elapsed))

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait,
        retry=retry_if_exception_type((AssertionError, *ignoring)) | retry_if_result(_falsy),
        reraise=False,
    )
    try:
        return retrying(check)
    except RetryError as gave_up:
        what = message or getattr(check, "__qualname__", None) or repr(check)
        last = gave_up.last_attempt
        error = last.exception()
        if error is not None:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}: last error: {error!r}"
            ) from error
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {what}: last value: {last.result()!r}"
        ) from None


def _falsy(value: object) -> bool:
    return not value
