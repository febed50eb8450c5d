"""How the live view follows the store: one recursive watch and a session listener, fanned out
to every open page as server-sent events.

The watch is coordkit's own (``client.watch("/", recursive=True)``), so it survives
reconnects and new sessions; nothing here polls the store. Each change is reduced to the
sections of the UI it may affect, and every subscriber (one per open page) gets the names of
those sections; the page then fetches the re-rendered section. A session state change
(SUSPENDED, LOST, CONNECTED again) is pushed as a ``session`` event, which the page shows as a
banner and, once connected again, answers by re-fetching its section.

A subscriber that does not read its events fast enough loses the oldest ones rather than
holding memory: a section name repeats with every change, so the next one catches it up.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from coordkit import Client, SessionEvent, WatchEvent, WatchHandle

__all__ = ["LiveState"]

_QUEUE_SIZE = 256
_HISTORY = 20  # leader changes remembered per election
_END = ("end", "")  # not an event: tells a page's stream to stop


class LiveState:
    """The watch, the session listener and the subscribers of one UI application.

    ``start()`` places the watch (raising BackendUnavailableError if the store does not
    answer); ``stop()`` cancels it and removes the listener. Events are delivered on the
    event loop given to ``start()``."""

    def __init__(self, client: Client, *, services_base: str, config_base: str) -> None:
        self._client = client
        self._bases = {"services": services_base.rstrip("/") + "/", "config": config_base.rstrip("/") + "/"}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[asyncio.Queue[tuple[str, str]]] = set()
        self._watch: WatchHandle | None = None
        self._lock = threading.Lock()
        self.seen: dict[tuple[str, int], float] = {}  # contender (key, token) -> first seen
        self.leaders: dict[str, tuple[str, int]] = {}  # election path -> (leader key, token)
        self.history: dict[str, collections.deque[dict[str, Any]]] = {}

    @property
    def state(self) -> str:
        return self._client.state.value

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._client.add_listener(self._on_session)
        self._watch = self._client.watch("/", self._on_change, recursive=True)

    def stop(self) -> None:
        self._client.remove_listener(self._on_session)
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def note_leaders(self, leaders: dict[str, tuple[str, int, str]]) -> None:
        """Record each election's head (path -> (key, token, value)); a change of head is
        kept in the election's recent history, shown while the UI runs."""
        with self._lock:
            for path, (key, token, value) in leaders.items():
                if self.leaders.get(path) != (key, token):
                    previous = self.leaders.get(path)
                    self.leaders[path] = (key, token)
                    if previous is not None:
                        self.history.setdefault(path, collections.deque(maxlen=_HISTORY)).appendleft(
                            {"at": time.strftime("%H:%M:%S"), "leader": value, "token": token}
                        )
            for path in set(self.leaders) - set(leaders):
                del self.leaders[path]
                self.history.setdefault(path, collections.deque(maxlen=_HISTORY)).appendleft(
                    {"at": time.strftime("%H:%M:%S"), "leader": "(none)", "token": 0}
                )

    async def events(self) -> AsyncIterator[tuple[str, str]]:
        """``(event, data)`` pairs for one page, until the page goes away or :meth:`end`."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield "session", self.state
            while (event := await queue.get()) != _END:
                yield event
        finally:
            self._subscribers.discard(queue)

    def end(self) -> None:
        """End every page's event stream (from any thread), so that a server shutting down
        need not wait for pages that would stay open for ever; their browsers reconnect."""
        self._publish(*_END)

    def _sections(self, key: str) -> set[str]:
        rel = key if key.startswith("/") else "/" + key
        sections = {"keys", "overview"}
        for name, base in self._bases.items():
            if (rel + "/").startswith(base) or rel.startswith(base):
                sections.add(name)
        if len(sections) == 2:  # not a registration nor a setting: maybe a contender
            sections.update(("locks", "elections"))
        return sections

    def _on_change(self, event: WatchEvent) -> None:
        for section in sorted(self._sections(event.key)):
            self._publish("change", section)

    def _on_session(self, event: SessionEvent) -> None:
        self._publish("session", event.state.value)

    def _publish(self, kind: str, data: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._deliver, kind, data)

    def _deliver(self, kind: str, data: str) -> None:
        for queue in list(self._subscribers):
            if (kind, data) == _END:
                while not queue.empty():
                    queue.get_nowait()  # the end goes first, whatever is waiting
            elif queue.full():
                queue.get_nowait()
            queue.put_nowait((kind, data))
