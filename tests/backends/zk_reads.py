"""Counting the reads a kazoo client sends, for the ZooKeeper watch tests."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from kazoo.client import KazooClient


def reads_sent(client: KazooClient, paths: Container[str] | None = None) -> list[str]:
    """The paths ``client`` reads with ``get_async`` from now on (only ``paths``, if given)."""
    sent: list[str] = []
    original = client.get_async

    def counting(path: str, *args: Any, **kwargs: Any) -> Any:
        if paths is None or path in paths:
            sent.append(path)
        return original(path, *args, **kwargs)

    client.get_async = counting  # type: ignore[method-assign]
    return sent
