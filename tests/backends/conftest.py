"""Fixtures of the backend tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient


@pytest.fixture
def raw(zookeeper_server: Any) -> Iterator[KazooClient]:
    """A plain kazoo client on the same server, unchrooted, to look at what the backend wrote
    (a test module may define its own ``raw``, e.g. chrooted to its namespace)."""
    client = KazooClient(hosts=",".join(zookeeper_server.endpoints))
    client.start(timeout=15.0)
    yield client
    client.stop()
    client.close()
