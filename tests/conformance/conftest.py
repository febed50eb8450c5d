"""Fixtures shared by the conformance tests beyond tests/conftest.py's per-test namespaces.

The API under test: every test that uses the ``client``, ``make_client`` or ``make_root_client``
fixture runs twice, with ``api`` ``sync`` (``coordkit.connect``) and ``async``
(``coordkit.aio.connect`` behind the sync surface, see tests/conformance/async_facade.py),
except the tests that use a feature the async API does not have: those run sync only, each
named in :data:`SYNC_ONLY` with its reason. Tests that use no client fixture run once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from async_facade import LoopThread, facade_connect

import coordkit

# The tests that run over the sync API only, and why: each uses a feature the async API lacks.
SYNC_ONLY: dict[str, str] = {
    "test_watch.py::test_callback_watch_and_cancel": "async watch() is an async iterator: no callback form",
    "test_watch.py::test_closing_the_client_stops_its_callback_watches": (
        "async watch() is an async iterator: no callback form"
    ),
    "test_semaphore_wakeups.py::test_a_release_reaches_only_its_watchers_and_wakes_one": (
        "it counts each waiter thread's queue reads on the sync backend, and async waiters all read on"
        " one loop: tests/aio/test_aio_semaphore.py counts the async waiters' reads"
    ),
    "test_semaphore_wakeups.py::test_a_waiter_whose_read_fails_after_its_turn_came_reads_again": (
        "it fails a queue read on the sync backend (etcd's async reads are coordkit/aio's):"
        " tests/aio/test_aio_semaphore.py fails an async waiter's read"
    ),
    "test_lock_departures.py::test_a_waiter_told_of_the_departure_after_its_own_contender_went_joins_again": (
        "it holds back the sync waiter's departure wait on its backend (the async recipe's waits are"
        " coordkit/aio's): tests/faults/test_late_departures.py delays an async waiter's link instead"
    ),
    "test_lock_departures.py::test_the_waiter_behind_one_that_gave_up_waits_for_the_holder_and_reads_once": (
        "it counts the sync waiter's queue reads and departure waits on its backend (the async"
        " recipe is coordkit/aio's)"
    ),
    "test_recipe_depth.py::test_lock_acquire_reaches_the_wire_within_the_budget": (
        "it counts the frames of the sync Lock.acquire() down to the client library"
    ),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "api" not in metafunc.fixturenames:
        return
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if f"{module}.py::{metafunc.function.__name__}" not in SYNC_ONLY:
        metafunc.parametrize("api", ["sync", "async"], indirect=True)


@pytest.fixture
def api(request: pytest.FixtureRequest) -> str:
    """``sync`` or ``async``: which client the test's clients are (see the module docstring)."""
    return str(getattr(request, "param", "sync"))


@pytest.fixture
def async_loop(api: str) -> Iterator[LoopThread | None]:
    """The loop of the test's async clients (None for the sync API); at the end it must have
    reported nothing (no task destroyed while pending, no unretrieved task exception)."""
    if api == "sync":
        yield None
        return
    runner = LoopThread()
    reported: list[dict[str, object]] = []
    runner.loop.set_exception_handler(lambda _loop, context: reported.append(context))
    yield runner
    runner.stop()
    assert not reported, f"the async clients' loop reported: {reported}"


def _factory(
    runner: LoopThread | None, url: Callable[[], str], sync: Callable[..., coordkit.Client]
) -> tuple[Callable[..., coordkit.Client], list[coordkit.Client]]:
    clients: list[coordkit.Client] = []
    if runner is None:
        return sync, clients

    def make(**options: object) -> coordkit.Client:
        options.setdefault("ttl", 4)
        client: coordkit.Client = facade_connect(runner, url(), **options)  # type: ignore[assignment]
        clients.append(client)
        return client

    return make, clients


@pytest.fixture
def make_client(
    make_client: Callable[..., coordkit.Client], store_url: str, async_loop: LoopThread | None
) -> Iterator[Callable[..., coordkit.Client]]:
    """tests/conftest.py's factory for the sync API; async clients behind the sync surface for
    the async API (closed after the test, before their loop stops)."""
    make, clients = _factory(async_loop, lambda: store_url, make_client)
    yield make
    for client in clients:
        client.close()


@pytest.fixture
def make_root_client(
    request: pytest.FixtureRequest, backend_kind: str, async_loop: LoopThread | None
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
        if async_loop is not None:
            clients.append(facade_connect(async_loop, url, ttl=4))  # type: ignore[arg-type]
        else:
            clients.append(coordkit.connect(url, ttl=4))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
