"""Shared fixtures: every conformance test runs on memory, ZooKeeper and etcd.

The real servers come from ``coordkit.testing`` (auto-loaded pytest plugin). Each test gets
its own namespace, so tests sharing one server never see each other's keys.

Every test is marked by what it runs against (``pytest_collection_modifyitems`` below):
``zookeeper`` and/or ``etcd`` when it needs that server, ``memory`` when it runs on memory:// and
needs no server, ``unit`` when it needs no backend at all. So ``pytest -m "memory or unit"`` starts
no server and needs no Java. A test that starts servers in a way not seen here (a subprocess that
runs ``coordkit dev`` or a benchmark) declares them: ``pytestmark = [pytest.mark.etcd, ...]``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import coordkit

BACKENDS = ["memory", "zookeeper", "etcd"]

# A developer's running `coordkit dev` server must not answer the tests' "no URL" cases:
# point every test, and every subprocess they start, at an empty dev folder.
os.environ["COORDKIT_DEV_DIR"] = _DEV_DIR = tempfile.mkdtemp(prefix="coordkit-test-dev-")
atexit.register(shutil.rmtree, _DEV_DIR, ignore_errors=True)  # a test run leaves nothing in /tmp


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


@pytest.fixture
def replace_session() -> Callable[[coordkit.Client], int]:
    """``replace_session(client)``: declare the client's session LOST now and wait (10 s at most)
    until the next one is CONNECTED; returns the new generation."""
    from coordkit.testing import eventually

    def replace(client: coordkit.Client) -> int:
        generation = client.session.generation
        client.expire_session()
        eventually(
            lambda: (
                client.session.generation > generation and client.state is coordkit.SessionState.CONNECTED
            ),
            timeout=10.0,
            message="a new session",
        )
        return client.session.generation

    return replace


@pytest.fixture
def old_session_kept() -> Iterator[Callable[[coordkit.Client], contextlib.AbstractContextManager[None]]]:
    """``with old_session_kept(client):`` a replacement of the client's session (``expire_session``)
    leaves the old session alive on the server, its ephemeral keys with it, as when the server
    never heard it end (an etcd leader change renews every lease; a ZooKeeper client whose close
    did not reach a server). The old sessions are ended after the test."""
    from coordkit.backends.zookeeper import backend as zookeeper_backend

    ends: list[Callable[[], None]] = []

    @contextlib.contextmanager
    def kept(client: coordkit.Client) -> Iterator[None]:
        backend: Any = client.backend
        with pytest.MonkeyPatch.context() as patch:
            if backend.kind == "etcd":
                revoke = backend._revoke
                patch.setattr(backend, "_revoke", lambda lease, _: ends.append(lambda: revoke(lease, 5.0)))
            elif backend.kind == "zookeeper":
                stop = zookeeper_backend.stop_bounded
                patch.setattr(
                    zookeeper_backend, "stop_bounded", lambda old, _: ends.append(lambda: stop(old, 5.0))
                )
            else:
                expire = backend._store.expire
                patch.setattr(backend._store, "expire", lambda sid: ends.append(lambda: expire(sid)))
            yield

    yield kept
    for end in ends:
        end()


@pytest.fixture
def sync_joins() -> Callable[[Any], list[str]]:
    """``sync_joins(aio)``: the paths that the sync join (the backend's ``queue_join``, which
    an async client runs on its call pool) is asked to join from now on."""

    def counted(aio: Any) -> list[str]:
        backend, joined = aio._ops.backend, []
        original = backend.queue_join

        def counting(path: str, *args: Any, **kwargs: Any) -> Any:
            joined.append(path)
            return original(path, *args, **kwargs)

        backend.queue_join = counting
        return joined

    return counted


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


SERVER_KINDS = ("zookeeper", "etcd")
# The words that name a backend in a parameter value or a test id ("zk" is the URL scheme).
_BACKEND_WORDS = {"memory": "memory", "etcd": "etcd", "zookeeper": "zookeeper", "zk": "zookeeper"}
# Fixtures (here, in the plugin and in sub-conftests) that start or share a server of a kind.
_SERVER_FIXTURES = {
    "zookeeper": {
        "zookeeper_server",
        "zookeeper_ensemble",
        "secure_zookeeper_server",
        "secure_zk",
        "sasl_zk",
    },
    "etcd": {"etcd_server", "etcd_cluster", "secure_etcd_server", "secure_etcd", "etcdctl_process"},
}
# A module that builds servers itself (in a test body or a helper) needs them for its unmarked tests.
_SERVER_CONSTRUCTORS = {
    "zookeeper": re.compile(r"\b(ZooKeeperServer|ZooKeeperEnsemble|SecureZooKeeperServer)\("),
    "etcd": re.compile(r"\b(EtcdServer|EtcdCluster|SecureEtcdServer)\("),
}


def _servers_built_in(text: str) -> set[str]:
    return {kind for kind, pattern in _SERVER_CONSTRUCTORS.items() if pattern.search(text)}


@functools.cache
def _module_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _function_text(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    try:
        return inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):  # no source to read (a generated test): the module scan decides
        return ""


def backends_of(item: pytest.Item) -> set[str]:
    """The backends ``item`` runs against: its explicit marks, its parameters (values and id
    words), the server fixtures it uses (directly or through other fixtures), and, failing
    those, the servers its module builds."""
    found = {kind for kind in ("memory", *SERVER_KINDS) if item.get_closest_marker(kind)}
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        words = [value for value in callspec.params.values() if isinstance(value, str)]
        words += re.split(r"[-\[\]]", callspec.id.lower())
        found |= {_BACKEND_WORDS[word] for word in words if word in _BACKEND_WORDS}
    fixtures = set(getattr(item, "fixturenames", ()))
    found |= {kind for kind, names in _SERVER_FIXTURES.items() if fixtures & names}
    if "memory_url" in fixtures:
        found.add("memory")
    found |= _servers_built_in(_function_text(item))
    if not found and item.path.suffix == ".py":
        found |= _servers_built_in(_module_text(item.path))
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by backend (see the module docstring). A test that needs a server is not
    marked ``memory`` even if it also uses memory://, so that ``-m memory`` never starts one."""
    for item in items:
        found = backends_of(item)
        servers = found & set(SERVER_KINDS)
        for kind in sorted(servers or found):
            item.add_marker(kind)
        if not found:
            item.add_marker("unit")
