"""SIGINT and SIGTERM caught as a flag, for the commands that hold something (``lock``,
``elect``, ``register``).

Signals only set a flag: the main thread keeps control, so that what is held is released
before the process exits (or, when that is impossible, the session is ended, which frees
it), and nobody sees a traceback. The signals received are kept, in order, to be passed on
to the command those commands run.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Signals", "catching_signals"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Signals:
    """SIGINT and SIGTERM as a flag plus a list of the signals not yet passed on."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._pending: queue.SimpleQueue[int] = queue.SimpleQueue()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self._pending.put(signum)
        self.stop.set()

    def take(self) -> list[int]:
        """The signals received since the last call, in order."""
        taken = []
        while not self._pending.empty():
            taken.append(self._pending.get_nowait())
        return taken


@contextmanager
def catching_signals() -> Iterator[Signals]:
    """Catch SIGINT and SIGTERM into a :class:`Signals` for the ``with`` block, only in the
    main thread (an embedding program that runs the CLI elsewhere must stop it itself)."""
    signals = Signals()
    previous = {}
    try:
        for signum in _STOP_SIGNALS:
            previous[signum] = signal.signal(signum, signals.handle)
    except ValueError:
        pass  # not the main thread
    try:
        yield signals
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
