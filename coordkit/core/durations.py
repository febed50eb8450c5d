"""The one check of a number of seconds given to coordkit (options, timeouts, TTLs).

Every layer that takes seconds from a user (URL options, backend options, keyword arguments,
a recipe's ``timeout``) checks them here, so that a bad value gets the same error, naming
what was given, whatever the way in.
"""

from __future__ import annotations

import math
import threading

from ..errors import ConfigurationError

__all__ = ["positive_seconds", "wait_seconds"]


def positive_seconds(raw: object, what: str) -> float:
    """``raw`` as a finite number of seconds above 0. ``what`` names it in the error
    (``"option ttl"``, ``"timeout"``). Raises ConfigurationError (bools are refused:
    ``True`` is not a duration)."""
    if isinstance(raw, bool):
        raise ConfigurationError(f"{what}={raw!r} is not a number of seconds")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{what}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{what}={raw!r} must be a positive number of seconds")
    return value


def wait_seconds(timeout: object, what: str = "timeout") -> float | None:
    """How long a caller may wait: None (for ever) or seconds >= 0. ``inf``, or more than a
    thread can wait for (threading.TIMEOUT_MAX, some 290 years), means None. Raises
    ConfigurationError for anything else (a string, a bool, nan). A negative number waits
    not at all, as 0 does."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise ConfigurationError(f"{what} must be a number of seconds or None, not {timeout!r}")
    return None if timeout >= threading.TIMEOUT_MAX else float(timeout)
