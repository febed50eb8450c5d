"""Fixtures shared by the conformance tests beyond tests/conftest.py's per-test namespaces."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

import coordkit


@pytest.fixture
def make_root_client(
    request: pytest.FixtureRequest, backend_kind: str
) -> Iterator[Callable[[], coordkit.Client]]:
    """Clients at the store's root (no namespace), where etcd keeps plain keys as spelt (``x``
    and ``/x`` are two keys): the case in which a recipe name could mean two recipes. Tests
    using it put a unique prefix in their names, since they share the server's root."""
    if backend_kind == "memory":
        url = f"memory://root-{uuid.uuid4().hex[:12]}"
    else:
        url = request.getfixturevalue(f"{backend_kind}_server").url
    clients: list[coordkit.Client] = []

    def make() -> coordkit.Client:
        clients.append(coordkit.connect(url, ttl=4))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
