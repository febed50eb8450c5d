"""A loopback TCP proxy that a test controls: cut one client off without touching the servers.

``FaultProxy(["127.0.0.1:2379", ...])`` listens on one free loopback port per upstream and
forwards each connection to its upstream. The test then makes the link misbehave:

``blackhole()``
    Nothing gets through in either direction, but connections stay open (a cable pulled, a
    partition): bytes wait in the socket buffers and flow again after ``heal()`` unless the
    client gave the connection up meanwhile. New connections are accepted and held.
``hold_replies()``
    What the client sends reaches the server, but nothing the server sends reaches the client
    (a link failing one way, a client paused between its write and its read): a request is
    applied and its caller never hears so. The replies wait, as in a blackhole.
``reset()``
    Every open connection is aborted with a TCP RST (a crashed middlebox, a restarted NAT);
    new connections are served as before.
``delay(seconds)``
    Every chunk is held ``seconds`` before it is forwarded (a congested link).
``heal()``
    Back to forwarding at once.

Each connection costs two daemon threads; everything stops with ``close()`` or the ``with``
block, within a bounded time.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from types import TracebackType

__all__ = ["FaultProxy"]

_CHUNK = 65536
_TICK = 0.02  # how often a stalled pump looks at the mode again: bounds heal() latency


class _Link:
    """One proxied connection: the client's socket and the upstream's."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream

    def abort(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):  # linger 0: close() sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()


class FaultProxy:
    """One listening loopback port per upstream ``host:port``; see the module docstring."""

    def __init__(self, upstreams: Sequence[str]) -> None:
        self._upstreams = [self._address(u) for u in upstreams]
        self._cond = threading.Condition()
        self._mode = "pass"
        self._delay = 0.0
        self._closed = False
        self._links: set[_Link] = set()
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        for upstream in self._upstreams:
            listener = socket.create_server(("127.0.0.1", 0))
            listener.settimeout(_TICK * 5)
            self._listeners.append(listener)
            thread = threading.Thread(
                target=self._accept, args=(listener, upstream), name="coordkit-proxy-accept", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _address(endpoint: str) -> tuple[str, int]:
        host, _, port = endpoint.rpartition(":")
        return host.strip("[]"), int(port)

    # --- what the test sees -------------------------------------------------------------------
    @property
    def endpoints(self) -> list[str]:
        """The proxy's ``127.0.0.1:port`` for each upstream, in the same order."""
        return [f"127.0.0.1:{listener.getsockname()[1]}" for listener in self._listeners]

    def url(self, scheme: str, namespace: str = "") -> str:
        """A coordkit URL through the proxy, e.g. ``url("etcd", "/app")``."""
        return f"{scheme}://{','.join(self.endpoints)}{namespace}"

    @property
    def mode(self) -> str:
        """``pass``, ``blackhole``, ``hold-replies`` or ``delay``."""
        return self._mode

    def blackhole(self) -> None:
        """Stop forwarding in both directions; connections stay open."""
        self._set("blackhole")

    def hold_replies(self) -> None:
        """Forward what the clients send; hold what the servers send (connections stay open)."""
        self._set("hold-replies")

    def delay(self, seconds: float) -> None:
        """Hold every chunk ``seconds`` before forwarding it."""
        if seconds < 0:
            raise ValueError(f"delay must be >= 0 seconds, not {seconds!r}")
        self._set("delay", seconds)

    def heal(self) -> None:
        """Forward everything again at once."""
        self._set("pass")

    def reset(self) -> None:
        """Abort every open connection with a TCP RST (new connections are served)."""
        with self._cond:
            links, self._links = list(self._links), set()
        for link in links:
            link.abort()

    def close(self) -> None:
        """Stop listening and abort every connection; returns within about a second."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.reset()
        for listener in self._listeners:
            listener.close()
        for thread in self._threads:
            thread.join(1.0)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------------
    def _set(self, mode: str, delay: float = 0.0) -> None:
        with self._cond:
            self._mode, self._delay = mode, delay
            self._cond.notify_all()

    def _holds(self, replies: bool) -> bool:
        """Whether the mode holds this direction (``replies``: from the server)."""
        return self._mode == "blackhole" or (replies and self._mode == "hold-replies")

    def _wait_open(self, replies: bool = False) -> bool:
        """Wait while this direction is held; False once closed."""
        with self._cond:
            while self._holds(replies) and not self._closed:
                self._cond.wait(_TICK)
            return not self._closed

    def _accept(self, listener: socket.socket, upstream: tuple[str, int]) -> None:
        while not self._closed:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            threading.Thread(
                target=self._open, args=(client, upstream), name="coordkit-proxy-link", daemon=True
            ).start()

    def _open(self, client: socket.socket, upstream: tuple[str, int]) -> None:
        if not self._wait_open():  # a partition also holds connection attempts
            client.close()
            return
        try:
            server = socket.create_connection(upstream, timeout=5)
        except OSError:
            client.close()  # the upstream is down: the client sees its connection end
            return
        link = _Link(client, server)
        with self._cond:
            if self._closed:
                link.abort()
                return
            self._links.add(link)
        threading.Thread(
            target=self._pump, args=(link, server, client, True), name="coordkit-proxy-pump", daemon=True
        ).start()
        self._pump(link, client, server, False)

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket, replies: bool) -> None:
        """Copy ``source`` to ``target`` until either ends, obeying the mode per chunk
        (``replies``: this is the server-to-client direction)."""
        try:
            while self._wait_open(replies):
                readable, _, _ = select.select([source], [], [], _TICK)
                if not readable:
                    continue
                if self._holds(replies):
                    continue  # read nothing: the bytes wait, as on a partitioned link
                data = source.recv(_CHUNK)
                if not data:
                    break
                if self._mode == "delay" and self._delay > 0:
                    time.sleep(self._delay)
                target.sendall(data)
        except (OSError, ValueError):
            pass  # either side closed or was reset
        finally:
            with self._cond:
                was_open = link in self._links
                self._links.discard(link)
            if was_open:
                for sock in (link.client, link.upstream):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
