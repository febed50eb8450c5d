"""Fault-injection fixtures: one backend made unreachable and reachable again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coordkit.testing import Outage

__all__ = ["Outage", "outage"]


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def outage(request: pytest.FixtureRequest) -> Iterator[Outage]:
    with Outage(request.param) as o:
        yield o


