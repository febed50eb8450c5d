"""ZooKeeper's own /zookeeper tree (quotas, dynamic config) is never written by coordkit."""

from __future__ import annotations

import pytest

import coordkit


def test_writes_to_the_reserved_tree_are_refused(zookeeper_server) -> None:  # type: ignore[no-untyped-def]
    with coordkit.connect(zookeeper_server.url) as client:
        before = client.get("/zookeeper/quota")
        for call in (
            lambda: client.put("/zookeeper/quota", "y"),
            lambda: client.delete("/zookeeper/quota"),
            lambda: client.commit([coordkit.Put("/zookeeper/x", b"1")]),
        ):
            with pytest.raises(coordkit.ConfigurationError, match="reserved"):
                call()
        assert client.get("/zookeeper/quota") == before
        assert client.get("/zookeeper/x") is None
