"""The ``lost`` event of a held lock, semaphore or leadership, answering by the clock, and
the callbacks that a declared loss runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..core.session import Session

__all__ = ["LossEvent", "LostCallback", "Ownership"]

log = logging.getLogger("coordkit.recipes._contention")  # where loss warnings were always logged
LostCallback = Callable[[str], None]


class Ownership(Protocol):
    """What the event asks of its handle's place in the queue."""

    held: bool  # by the flag the session listener clears

    @property
    def held_now(self) -> bool: ...  # by the clock and the session, now (declares a loss seen)

    @property
    def session(self) -> Session: ...


class LossEvent(threading.Event):
    """A ``threading.Event`` set when ownership is lost, which also answers by the clock:
    ``is_set()`` is True as soon as ownership has ended (the session's deadline passed, or
    its state says so), before the listener that calls ``set()`` has run, and ``wait()``
    returns at the deadline, not when a thread gets around to noticing it.

    :meth:`declare` sets it with a reason and runs the callbacks given to :meth:`on_lost`, in
    order; a callback that raises is logged and does not stop the others."""

    def __init__(self, contention: Ownership, what: str) -> None:
        super().__init__()
        self._contention = contention
        self._what = what
        self.reason = ""
        self._callbacks: list[LostCallback] = []
        self._callbacks_lock = threading.Lock()

    def on_lost(self, callback: LostCallback) -> None:
        with self._callbacks_lock:
            self._callbacks.append(callback)

    def declare(self, path: str, reason: str) -> None:
        """Ownership of ``path`` ended for ``reason``: set the event, tell the callbacks."""
        self.reason = reason
        self.set()
        log.warning("coordkit %s %s lost: %s", self._what, path, reason)
        with self._callbacks_lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:
                log.exception("coordkit %s loss callback failed", self._what)

    def reset(self) -> None:
        """A new holding begins: not lost, no reason (the callbacks stay)."""
        self.clear()
        self.reason = ""

    def is_set(self) -> bool:
        held = self._contention
        return super().is_set() or (held.held and not held.held_now)

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while not self.is_set():
            now = time.monotonic()
            if end is not None and now >= end:
                return False
            step = self._until_deadline()
            if end is not None:
                step = end - now if step is None else min(step, end - now)
            super().wait(step)  # set() wakes it early; the deadline moves as heartbeats land
        return True

    def _until_deadline(self) -> float | None:
        """Seconds until the session's ownership deadline while held (None if not held)."""
        held = self._contention
        return max(0.0, held.session.valid_until - time.monotonic()) if held.held else None
