"""Counting the reads a kazoo client sends, for the ZooKeeper watch tests."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.serialization import GetData


def reads_sent(client: KazooClient, paths: Container[str] | None = None) -> list[str]:
    """The paths of the data reads ``client`` sends from now on (only ``paths``, if given),
    as they are queued for the wire: ``get_async`` and a ``GetData`` given to ``_call``
    directly alike."""
    sent: list[str] = []
    original = client._call

    def counting(request: Any, async_object: Any) -> Any:
        if isinstance(request, GetData):
            path = client.unchroot(request.path)
            if paths is None or path in paths:
                sent.append(path)
        return original(request, async_object)

    client._call = counting  # type: ignore[method-assign]
    return sent
