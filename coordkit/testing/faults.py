"""Fault injection for tests: one backend made unreachable and reachable again.

``Outage("etcd")`` starts a dedicated etcd (``"zookeeper"``: a ZooKeeper; ``"memory"``: a
fresh in-process store) that the test may pause, resume and restart without disturbing
anybody else; ``cut()`` makes it unreachable (SIGSTOP: sockets stay open, nothing answers,
as with a lost network), ``heal()`` brings it back. Clients made with ``connect()`` are
closed, and the server stopped, when the ``with`` block ends.
"""

from __future__ import annotations

import uuid

import coordkit

from ._etcd import EtcdServer
from ._zookeeper import ZooKeeperServer

__all__ = ["Outage"]


class Outage:
    """A dedicated backend of ``kind`` ("memory", "zookeeper" or "etcd") to break."""

    def __init__(self, kind: str) -> None:
        if kind not in ("memory", "zookeeper", "etcd"):
            raise ValueError(f"Outage kind must be memory, zookeeper or etcd, not {kind!r}")
        self.kind = kind
        self.url = f"memory://outage-{uuid.uuid4().hex}"
        self.server: ZooKeeperServer | EtcdServer | None = None
        self.clients: list[coordkit.Client] = []

    def __enter__(self) -> Outage:
        if self.kind != "memory":
            self.server = ZooKeeperServer() if self.kind == "zookeeper" else EtcdServer()
            self.server.start()
            self.url = self.server.url
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.close()
        if self.server is not None:
            self.server.stop()

    def connect(self, *, ttl: float | None = None, timeout: float | None = None) -> coordkit.Client:
        """A client of the backend, closed at the end."""
        client = coordkit.connect(self.url, ttl=ttl, timeout=timeout)
        self.clients.append(client)
        return client

    def cut(self, client: coordkit.Client | None = None) -> None:
        """Make the backend unreachable (on memory: for ``client``, or every client)."""
        self._reach(False, client)

    def heal(self, client: coordkit.Client | None = None) -> None:
        """Make it reachable again."""
        self._reach(True, client)

    def _reach(self, reachable: bool, client: coordkit.Client | None) -> None:
        if self.server is not None:
            (self.server.resume if reachable else self.server.pause)()
            return
        for each in [client] if client is not None else self.clients:
            each.backend.set_reachable(reachable)  # type: ignore[attr-defined]
