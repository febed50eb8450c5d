"""What ``lock`` and ``elect`` show on a terminal while they wait: who holds what they wait
for, and how many contenders are ahead, kept up to date as the queue moves.

``waiting for lock orders/42: held by <key> (token N), 2 ahead`` on stderr, redrawn in place
(one line, nothing on stdout), and only when stderr is a terminal: a script reading the
output sees nothing of it. The queue is the one the handle itself joined: its directory is
read off the handle's own contender key, so it is right whatever layout the backend uses.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Protocol

from coordkit import Client, CoordkitError
from coordkit.recipes import Contender

from .output import printable

__all__ = ["WaitProgress"]

_NO_KEY_POLL = 0.05  # how often to look whether the handle has joined its queue yet
_REREAD_SECONDS = 2.0  # a re-read even without a change event, in case a watch missed one
_CLEAR_LINE = "\r\x1b[K"


class Contending(Protocol):
    """A lock or an election as far as waiting goes: its contender key once it has joined."""

    @property
    def key(self) -> str | None: ...


class WaitProgress:
    """A daemon thread that redraws the waiting line on stderr until :meth:`stop`."""

    def __init__(self, client: Client, handle: Contending, what: str) -> None:
        self._client, self._handle, self._what = client, handle, what
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._lock = threading.Lock()  # one writer at a time: the thread, or stop()
        self._shown = ""
        self._thread = threading.Thread(target=self._run, name="coordkit-waiting", daemon=True)

    @classmethod
    def on_a_terminal(cls, client: Client, handle: Contending, what: str) -> WaitProgress | None:
        """A started WaitProgress when stderr is a terminal; None otherwise."""
        if not sys.stderr.isatty():
            return None
        progress = cls(client, handle, what)
        progress._thread.start()
        return progress

    def stop(self) -> None:
        """Stop redrawing and erase the line, so that what follows starts on a clean one.
        Waits at most briefly for the thread (it may be stuck in a read of a lost server)."""
        self._stop.set()
        self._changed.set()
        self._thread.join(0.5)
        with self._lock:
            if self._shown:
                sys.stderr.write(_CLEAR_LINE)
                sys.stderr.flush()
            self._shown = ""

    def _run(self) -> None:
        key = self._joined_key()
        if key is None:
            return
        queue = key.rsplit("/", 1)[0] or "/"
        try:
            # The watch first, so that no move of the queue falls between it and the read.
            with self._client.watch(queue, lambda event: self._changed.set(), recursive=True):
                self._follow(queue, key)
        except CoordkitError:
            return  # the wait goes on; only its description is gone

    def _joined_key(self) -> str | None:
        while not self._stop.is_set():
            key = self._handle.key
            if key is not None:
                return key
            self._stop.wait(_NO_KEY_POLL)
        return None

    def _follow(self, queue: str, key: str) -> None:
        while not self._stop.is_set():
            self._changed.clear()  # before the read: a move after it wakes the next one
            try:
                contenders, _ = self._client.backend.queue_list(queue, values=True)
            except CoordkitError:
                contenders = None  # unreachable for now: keep the last line, read again later
            if contenders is not None:
                self._show(self._line(contenders, key))
            self._changed.wait(_REREAD_SECONDS)

    def _line(self, contenders: Sequence[Contender], key: str) -> str:
        keys = [contender.key for contender in contenders]
        ahead = keys.index(key) if key in keys else len(keys)
        if ahead == 0:
            return ""  # at the head: about to win, nothing to wait for
        holder = contenders[0]
        token = f" (token {holder.create_revision})" if holder.create_revision else ""
        return f"coordkit: waiting for {self._what}: held by {printable(holder.key)}{token}, {ahead} ahead"

    def _show(self, line: str) -> None:
        with self._lock:
            if self._stop.is_set() or line == self._shown:
                return
            sys.stderr.write(_CLEAR_LINE + line)
            sys.stderr.flush()
            self._shown = line
