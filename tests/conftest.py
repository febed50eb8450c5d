"""Shared fixtures: every conformance test runs on memory, ZooKeeper and etcd.

The real servers come from ``coordkit.testing`` (auto-loaded pytest plugin). Each test gets
its own namespace, so tests sharing one server never see each other's keys.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator

import pytest

import coordkit

BACKENDS = ["memory", "zookeeper", "etcd"]

# A developer's running `coordkit dev` server must not answer the tests' "no URL" cases:
# point every test, and every subprocess they start, at an empty dev folder.
os.environ["COORDKIT_DEV_DIR"] = tempfile.mkdtemp(prefix="coordkit-test-dev-")


def _unique() -> str:
    return "ck-" + uuid.uuid4().hex[:12]


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, backend_kind: str) -> str:
    """A URL with a fresh namespace on the backend under test."""
    name = _unique()
    if backend_kind == "memory":
        return f"memory://{name}"
    server = request.getfixturevalue(f"{backend_kind}_server")
    return f"{server.url}/{name}"


@pytest.fixture
def make_client(store_url: str) -> Iterator[Callable[..., coordkit.Client]]:
    """Factory of clients on the test's namespace; all are closed after the test."""
    clients: list[coordkit.Client] = []

    def make(**options: object) -> coordkit.Client:
        options.setdefault("ttl", 4)
        client = coordkit.connect(store_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., coordkit.Client]) -> coordkit.Client:
    return make_client()


STRICT = os.environ.get("COORDKIT_STRICT_TESTS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under COORDKIT_STRICT_TESTS=1 (scripts/test.sh, hence CI) a skipped test fails: a
    missing server, tool or extra must not pass as a green run."""
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, which COORDKIT_STRICT_TESTS=1 does not allow: {report.longrepr}"
