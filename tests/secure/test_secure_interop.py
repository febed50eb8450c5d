"""Other tools with the same identity keep seeing and respecting what coordkit made:
etcdctl with the same certificates and user, kazoo with the same digest credentials."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

import coordkit
import coordkit.aio
from coordkit.testing.loops import run


def test_etcdctl_with_the_same_user_sees_the_lock_holder(secure_etcd: Any) -> None:
    name = f"interop-{uuid.uuid4().hex[:8]}"
    with (
        coordkit.connect(secure_etcd.url, **secure_etcd.credentials("alice")) as client,
        client.lock(name) as lock,
    ):
        listed = secure_etcd.etcdctl(
            "get", "--prefix", "--keys-only", f"{name}/", user="alice"
        ).stdout.split()
        assert lock.key in listed
        # etcdctl's own lock on the same name waits behind coordkit's holder.
        with pytest.raises(subprocess.TimeoutExpired):
            secure_etcd.etcdctl("lock", name, "--", "true", user="alice", timeout=1.5)
    done = secure_etcd.etcdctl("lock", name, "--", "echo", "mine", user="alice", timeout=15)
    assert done.stdout.strip() == "mine"


@pytest.fixture
def kazoo_as(secure_zk: Any) -> Callable[[str, str], KazooClient]:
    started: list[KazooClient] = []

    def make(user: str, password: str) -> KazooClient:
        zk = KazooClient(secure_zk.plain_url[len("zk://") :], auth_data=[("digest", f"{user}:{password}")])
        zk.start(timeout=10)
        started.append(zk)
        return zk

    yield make  # type: ignore[misc]
    for zk in started:
        zk.stop()
        zk.close()


def test_kazoo_with_the_same_digest_identity_is_not_locked_out(secure_zk: Any, kazoo_as: Any) -> None:
    namespace = f"/ck-{uuid.uuid4().hex[:10]}"
    creds = secure_zk.credentials("alice", tls=False)
    with (
        coordkit.connect(secure_zk.plain_url + namespace, **creds) as client,
        client.register("payment-service", "10.0.0.7", 8081),
    ):
        alice = kazoo_as("alice", secure_zk.secrets.user("alice").password)
        service = f"{namespace}/services/payment-service"
        [instance] = alice.get_children(service)
        path = f"{service}/{instance}"
        assert b"10.0.0.7" in alice.get(path)[0]
        mallory = kazoo_as("mallory", "guess")
        with pytest.raises(NoAuthError):
            mallory.delete(path)
        assert alice.exists(path) is not None
        alice.delete(path)  # the same identity keeps every right, delete included


@pytest.mark.parametrize("acl, world_reads", [(None, False), ("creator+read", True)])
def test_parents_made_by_put_get_the_same_acl(
    secure_zk: Any, kazoo_as: Any, acl: str | None, world_reads: bool
) -> None:
    namespace = f"/ck-{uuid.uuid4().hex[:10]}"
    creds = secure_zk.credentials("alice", tls=False)
    with coordkit.connect(secure_zk.plain_url + namespace, acl=acl, **creds) as client:
        client.put("/a/b/c", "v")
    mallory = kazoo_as("mallory", "guess")
    for path in (f"{namespace}/a", f"{namespace}/a/b", f"{namespace}/a/b/c"):
        if world_reads:
            value, _ = mallory.get(path)  # readable by anyone; a parent holds coordkit's marker
            assert value == b"v" if path.endswith("/c") else value != b"v"
        else:
            with pytest.raises(NoAuthError):
                mallory.get(path)
        with pytest.raises(NoAuthError):
            mallory.set(path, b"x")
    alice = kazoo_as("alice", secure_zk.secrets.user("alice").password)
    acls, _ = alice.get_acls(f"{namespace}/a")
    assert {(entry.id.scheme, entry.perms) for entry in acls} >= {("digest", 31)}
    alice.delete(f"{namespace}/a", recursive=True)


def test_explicit_acl_entries(secure_zk: Any, kazoo_as: Any) -> None:
    namespace = f"/ck-{uuid.uuid4().hex[:10]}"
    creds = secure_zk.credentials("alice", tls=False)
    with coordkit.connect(
        secure_zk.plain_url + namespace, acl=["auth::cdrwa", "world:anyone:r"], **creds
    ) as client:
        client.put("/x", "v")
    acls, _ = kazoo_as("mallory", "guess").get_acls(f"{namespace}/x")
    assert ("world", "anyone", 1) in {(a.id.scheme, a.id.id, a.perms) for a in acls}


@pytest.mark.parametrize("acl", [None, "creator+read"])
def test_an_async_contender_gets_the_acl_a_sync_one_gets(
    secure_zk: Any, kazoo_as: Any, acl: str | None, sync_joins: Callable[[Any], list[str]]
) -> None:
    """An async join sends its create itself (zookeeper/aio.py), not through kazoo's
    ``create_async``: its node must carry the ACL a sync join's node carries."""
    namespace = f"/ck-{uuid.uuid4().hex[:10]}"
    url, creds = secure_zk.plain_url + namespace, secure_zk.credentials("alice", tls=False)
    alice = kazoo_as("alice", secure_zk.secrets.user("alice").password)
    mallory = kazoo_as("mallory", "guess")

    def acl_of(path: str) -> set[tuple[str, str, int]]:
        return {(a.id.scheme, a.id.id, a.perms) for a in alice.get_acls(path)[0]}

    with coordkit.connect(url, acl=acl, **creds) as client, client.lock("held") as held:
        expected = acl_of(f"{namespace}/{held.key}")

    async def main() -> None:
        async with coordkit.aio.connect(url, acl=acl, **creds) as aio:
            joins = sync_joins(aio)
            lock = aio.lock("held")
            assert await lock.acquire(timeout=10)
            assert joins == []  # the create was the async join's own
            node = f"{namespace}/{lock.key}"
            assert acl_of(node) == expected
            with pytest.raises(NoAuthError):
                mallory.set(node, b"x")  # the node's own ACL (a delete checks the parent's)
            await lock.release()

    run(main())
