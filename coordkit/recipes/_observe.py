"""Acquire waits and holdings told to the active probe (see :mod:`coordkit.backends.probe`).

Kept out of :mod:`._contention` so that the queue reads as the queue: it calls in here only
when a probe is installed, and pays one test of a global otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ..backends.probe import Probe

__all__ = ["kind_of", "observed_aenter", "observed_enter"]


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
    try:
        entered = enter()
    except BaseException:
        _told(probe, what, backend, started_ns, started, "error", None)
        raise
    return _entered(probe, what, backend, started_ns, started, entered, token, blocking)


async def observed_aenter(
    probe: Probe,
    what: str,
    backend: str,
    enter: Callable[[], Awaitable[bool]],
    token: Callable[[], int | None],
    blocking: bool,
) -> bool:
    """:func:`observed_enter` of the asyncio recipes: ``await enter()`` (a cancellation
    counts as ``error``, and propagates)."""
    started_ns, started = time.time_ns(), time.monotonic()
    try:
        entered = await enter()
    except BaseException:
        _told(probe, what, backend, started_ns, started, "error", None)
        raise
    return _entered(probe, what, backend, started_ns, started, entered, token, blocking)


def _entered(
    probe: Probe,
    what: str,
    backend: str,
    started_ns: int,
    started: float,
    entered: bool,
    token: Callable[[], int | None],
    blocking: bool,
) -> bool:
    outcome = "acquired" if entered else "timeout" if blocking else "busy"
    _told(probe, what, backend, started_ns, started, outcome, token() if entered else None)
    return entered


def _told(
    probe: Probe, what: str, backend: str, started_ns: int, started: float, outcome: str, token: int | None
) -> None:
    probe.acquire_ended(kind_of(what), backend, started_ns, time.monotonic() - started, outcome, token)
