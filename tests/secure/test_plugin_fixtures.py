"""The pytest plugin offers secure servers to users' own tests."""

from __future__ import annotations

from typing import Any

import coordkit


def test_secure_fixtures_connect(secure_etcd_server: Any, secure_zookeeper_server: Any) -> None:
    for server in (secure_etcd_server, secure_zookeeper_server):
        with coordkit.connect(server.url + "/plugin", **server.credentials("alice")) as client:
            client.put("/x", "1")
            assert client.get("/x").value == b"1"
