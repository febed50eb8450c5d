"""Counting the reads a kazoo client sends, for the ZooKeeper watch tests."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.serialization import GetData


def reads_sent(client: KazooClient, paths: Container[str] | None = None) -> list[str]:
    """The paths of the data reads ``client`` sends from now on (only ``paths``, if given), as
    they go on the wire: a read queued by ``get_async``, by ``_call`` directly, or by the
    reader thread itself (:mod:`coordkit.backends.zookeeper.prefetch`) alike."""
    sent: list[str] = []
    connection = client._connection
    original = connection._submit

    def counting(request: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(request, GetData):
            path = client.unchroot(request.path)
            if paths is None or path in paths:
                sent.append(path)
        return original(request, *args, **kwargs)

    connection._submit = counting
    return sent
