"""The ``lost`` event of a held lock, semaphore or leadership, answering by the clock."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["LossEvent", "Ownership"]


class Ownership(Protocol):
    """What the event asks of its handle's place in the queue."""

    def ended_unnoticed(self) -> bool: ...

    def until_deadline(self) -> float | None: ...


class LossEvent(threading.Event):
    """A ``threading.Event`` set when ownership is lost, which also answers by the clock:
    ``is_set()`` is True as soon as ownership has ended (the session's deadline passed, or
    its state says so), before the listener that calls ``set()`` has run, and ``wait()``
    returns at the deadline, not when a thread gets around to noticing it."""

    def __init__(self, contention: Ownership) -> None:
        super().__init__()
        self._contention = contention

    def is_set(self) -> bool:
        return super().is_set() or self._contention.ended_unnoticed()

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while not self.is_set():
            now = time.monotonic()
            if end is not None and now >= end:
                return False
            step = self._contention.until_deadline()
            if end is not None:
                step = end - now if step is None else min(step, end - now)
            super().wait(step)  # set() wakes it early; the deadline moves as heartbeats land
        return True
