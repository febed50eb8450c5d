"""Fault-injection fixtures: one backend made unreachable and reachable again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import coordkit
from coordkit.testing import EtcdServer, ZooKeeperServer


class Outage:
    """Makes one backend unreachable and reachable again, whatever its kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.url = f"memory://{uuid.uuid4().hex}"
        self.server: ZooKeeperServer | EtcdServer | None = None
        self.clients: list[coordkit.Client] = []

    def __enter__(self) -> "Outage":
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

    def connect(self, **options: object) -> coordkit.Client:
        client = coordkit.connect(self.url, **options)
        self.clients.append(client)
        return client

    def cut(self) -> None:
        if self.server is not None:
            self.server.pause()
        else:
            for client in self.clients:
                client.backend.set_reachable(False)  # type: ignore[attr-defined]

    def heal(self) -> None:
        if self.server is not None:
            self.server.resume()
        else:
            for client in self.clients:
                client.backend.set_reachable(True)  # type: ignore[attr-defined]


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def outage(request: pytest.FixtureRequest) -> Iterator[Outage]:
    with Outage(request.param) as o:
        yield o


