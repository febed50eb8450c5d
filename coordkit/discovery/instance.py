"""The service instance type shared by the registry, the discovery cache and the balancers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .defaults import DOWN, DRAINING, STATUSES, UP

__all__ = ["DOWN", "DRAINING", "STATUSES", "UP", "ServiceInstance"]  # the statuses: see .defaults


@dataclass(frozen=True)
class ServiceInstance:
    """One live instance of a service, as registered.

    ``metadata`` holds free-form string keys (e.g. ``zone``, ``version``); ``weight`` is a
    positive int used by the weighted strategies; ``registered_at`` is epoch milliseconds.
    ``ssl_port`` and ``uri_spec`` are carried for Curator compatibility. ``status`` is one of
    :data:`STATUSES` (``up`` unless drained or failing its health checks), ``status_reason``
    what its owner or an operator said about it (empty when up).
    """

    name: str
    id: str
    address: str
    port: int
    metadata: Mapping[str, str] = field(default_factory=dict)
    weight: int = 1
    registered_at: int = 0
    ssl_port: int | None = None
    uri_spec: Any = None
    status: str = UP
    status_reason: str = ""

    @property
    def is_up(self) -> bool:
        return self.status == UP

    @property
    def endpoint(self) -> str:
        """``address:port`` (IPv6 addresses in brackets)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def __hash__(self) -> int:  # metadata is a mapping; identity is (name, id)
        return hash((self.name, self.id))
