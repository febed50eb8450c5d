"""Acquire waits and holdings told to the active probe (see :mod:`coordkit.backends.probe`).

Kept out of :mod:`._contention` so that the queue reads as the queue: it calls in here only
when a probe is installed, and pays one test of a global otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..backends.probe import Probe

__all__ = ["kind_of", "observed_enter"]


def kind_of(what: str) -> str:
    """A policy's ``what`` as a label value: ``lock``, ``semaphore``, ``read_lock``,
    ``write_lock`` or ``leadership`` (a bounded set: the policies)."""
    return what.replace(" ", "_")


def observed_enter(
    probe: Probe,
    what: str,
    backend: str,
    enter: Callable[[], bool],
    token: Callable[[], int | None],
    blocking: bool,
) -> bool:
    """``enter()``, with its wait and outcome (and ``token()`` once entered) told to
    ``probe``. What holds on failure is what holds for ``enter`` itself: the exception
    propagates, counted as ``error``."""
    started_ns, started = time.time_ns(), time.monotonic()
    kind = kind_of(what)
    try:
        entered = enter()
    except BaseException:
        probe.acquire_ended(kind, backend, started_ns, time.monotonic() - started, "error", None)
        raise
    waited = time.monotonic() - started
    if entered:
        probe.acquire_ended(kind, backend, started_ns, waited, "acquired", token())
    else:
        probe.acquire_ended(kind, backend, started_ns, waited, "timeout" if blocking else "busy", None)
    return entered
