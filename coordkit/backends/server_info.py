"""What a backend tells of its servers (``Client.server_info()``, ``coordkit status``).

A module of its own so that a command that only reads, the CLI's ``get``, does not define it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ServerInfo"]


@dataclass(frozen=True)
class ServerInfo:
    """What ``coordkit status`` shows; fields a backend cannot tell stay empty."""

    kind: str
    endpoints: Sequence[str]
    version: str = ""
    members: Sequence[str] = field(default_factory=tuple)
    leader: str = ""
    details: dict[str, str | int] = field(default_factory=dict)
    # Each endpoint of the URL is asked on its own: those that did not answer, and why.
    unreachable: dict[str, str] = field(default_factory=dict)
    # Of those that answered, where the backend tells: each one's server version, and its
    # position in the replicated log (etcd's raft index, ZooKeeper's zxid), to compare for lag.
    versions: dict[str, str] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
