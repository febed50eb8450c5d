"""ZooKeeper: a create whose implicit parents are missing, in as few round trips as it can.

Deleting a service's last instance removes its implicit parent, so the next registration
would meet a missing parent every time. The backend remembers the parents it removed and
sends them in the key's own multi; when that guess is wrong (somebody created a parent, or
removed more above it) the multi fails as a whole and the create goes the usual way. These
tests count the requests the backend sends (kazoo's ``_call``) and check with a raw client
that nothing but the key and its implicit parents was written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from coordkit.backends.base import Delete, Put
from coordkit.backends.zookeeper.backend import ZooKeeperBackend
from coordkit.errors import KeyExistsError
from coordkit.names import PARENT_MARK

DEADLINE = 15.0


class Counted:
    """The backend's requests, by kazoo request type, since the last ``take()``."""

    def __init__(self, backend: ZooKeeperBackend) -> None:
        client = backend._client
        assert client is not None
        self.sent: list[str] = []
        original = client._call

        def counting(request: Any, async_object: Any) -> Any:
            self.sent.append(type(request).__name__)
            return original(request, async_object)

        client._call = counting  # type: ignore[method-assign]

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


@pytest.fixture
def ns() -> str:
    return "/zkc-" + uuid.uuid4().hex[:10]


@pytest.fixture
def backend(zookeeper_server: Any, ns: str) -> Iterator[ZooKeeperBackend]:
    b = ZooKeeperBackend(zookeeper_server.endpoints, ns, options={})
    b.connect(lambda event: None, ttl=4.0, timeout=DEADLINE)
    yield b
    b.close()


@pytest.fixture
def raw(zookeeper_server: Any, ns: str) -> Iterator[KazooClient]:
    client = KazooClient(hosts=",".join(zookeeper_server.endpoints) + ns)
    client.start(timeout=DEADLINE)
    yield client
    client.stop()
    client.close()


def test_a_key_created_again_below_its_removed_parents_takes_one_multi(
    backend: ZooKeeperBackend, raw: KazooClient
) -> None:
    backend.put(Put("/base", b"key"))  # a key: pruning stops below it
    first = backend.put(Put("/base/svc/deep/i1", b"1", ephemeral=True, create=True))
    assert backend.delete("/base/svc/deep/i1")
    assert raw.exists("/base/svc") is None and raw.get("/base")[0] == b"key"
    counted = Counted(backend)
    again = backend.put(Put("/base/svc/deep/i2", b"2", ephemeral=True, create=True))
    assert counted.take() == ["Transaction", "GetData"]  # one round trip
    assert again == backend.get("/base/svc/deep/i2")
    assert again.create_revision > first.create_revision and again.lease == backend.session_id
    for parent in ("/base/svc", "/base/svc/deep"):
        data, stat = raw.get(parent)
        assert data == PARENT_MARK and stat.czxid == again.create_revision and not stat.ephemeralOwner
    # The same through commit's delete, and for a persistent create.
    backend.commit([Delete("/base/svc/deep/i2")])
    assert raw.exists("/base/svc") is None
    counted.take()
    made = backend.put(Put("/base/svc/deep/i3", b"3", create=True))
    assert counted.take() == ["Transaction", "GetData"]
    assert made == backend.get("/base/svc/deep/i3") and made.lease == 0


def test_a_parent_created_meanwhile_by_another_client_costs_one_create_more(
    backend: ZooKeeperBackend, raw: KazooClient
) -> None:
    backend.put(Put("/svc/i1", b"1", ephemeral=True, create=True))
    backend.delete("/svc/i1")
    raw.create("/svc", b"theirs")  # a key of another tool now
    counted = Counted(backend)
    entry = backend.put(Put("/svc/i2", b"2", ephemeral=True, create=True))
    assert counted.take() == ["Transaction", "GetData", "Create2"]
    assert entry == backend.get("/svc/i2")
    assert raw.get("/svc")[0] == b"theirs"  # the failed multi wrote nothing
    assert raw.get_children("/svc") == ["i2"]


def test_more_parents_missing_than_were_removed_are_found_and_made(
    backend: ZooKeeperBackend, raw: KazooClient
) -> None:
    backend.put(Put("/top", b"key"))
    backend.put(Put("/top/a/b/i1", b"1", ephemeral=True, create=True))
    backend.delete("/top/a/b/i1")
    raw.delete("/top")  # another client removed the key above the pruned parents
    entry = backend.put(Put("/top/a/b/i2", b"2", ephemeral=True, create=True))
    assert entry == backend.get("/top/a/b/i2")
    for parent in ("/top", "/top/a", "/top/a/b"):
        assert raw.get(parent)[0] == PARENT_MARK


def test_a_missing_parent_found_by_a_failed_create_goes_in_the_next_multi(
    backend: ZooKeeperBackend, raw: KazooClient
) -> None:
    backend.put(Put("/svc", b"key"))
    counted = Counted(backend)
    entry = backend.put(Put("/svc/group/i1", b"1", ephemeral=True, create=True))
    assert counted.take() == ["Create2", "Transaction", "GetData"]  # two round trips
    assert entry == backend.get("/svc/group/i1")
    assert raw.get("/svc/group")[0] == PARENT_MARK


def test_a_wrong_guess_still_refuses_another_sessions_key(
    backend: ZooKeeperBackend, raw: KazooClient
) -> None:
    backend.put(Put("/svc/i1", b"1", ephemeral=True, create=True))
    backend.delete("/svc/i1")
    raw.create("/svc/i1", b"theirs", ephemeral=True, makepath=True)
    with pytest.raises(KeyExistsError):
        backend.put(Put("/svc/i1", b"mine", ephemeral=True, create=True))
    assert raw.get("/svc/i1")[0] == b"theirs"


def test_a_parent_made_again_by_a_commit_is_no_longer_guessed_missing(backend: ZooKeeperBackend) -> None:
    backend.put(Put("/svc/i1", b"1", ephemeral=True, create=True))
    backend.delete("/svc/i1")
    backend.commit([Put("/svc/a", b"1", create=True)])  # makes /svc again, in its own multi
    counted = Counted(backend)
    backend.put(Put("/svc/i2", b"2", ephemeral=True, create=True))
    assert counted.take() == ["Create2"]
