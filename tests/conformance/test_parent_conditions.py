"""Conditions on a key that ZooKeeper keeps only as an implicit parent: such a key is absent,
so a version-pinned write, check or delete of it fails as it does on etcd and memory://."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import coordkit
from coordkit import Check, Put


def test_a_versioned_put_of_a_parent_never_written_is_a_conflict(client: coordkit.Client) -> None:
    client.put("/vp/child", "c")
    with pytest.raises(coordkit.VersionConflictError):
        client.put("/vp", "x", version=1)
    assert client.get("/vp") is None


def test_a_versioned_put_of_a_key_deleted_into_a_parent_is_a_conflict(client: coordkit.Client) -> None:
    made = client.put("/vd", "key")
    client.put("/vd/child", "c")
    client.delete("/vd")
    with pytest.raises(coordkit.VersionConflictError):
        client.put("/vd", "x", version=made.version + 1)
    assert client.get("/vd") is None


def test_a_check_of_a_parent_is_a_check_of_an_absent_key(client: coordkit.Client) -> None:
    client.put("/vc/child", "c")
    with pytest.raises(coordkit.VersionConflictError):
        client.commit([Check("/vc", version=1), Put("/vc-other", b"1")])
    with pytest.raises(coordkit.ConflictError):
        client.commit([Check("/vc"), Put("/vc-other", b"1")])
    assert client.get("/vc-other") is None


def test_a_versioned_commit_put_of_a_parent_is_a_conflict(client: coordkit.Client) -> None:
    client.put("/vt/child", "c")
    with pytest.raises(coordkit.VersionConflictError):
        client.commit([Put("/vt", b"x", version=1)])
    assert client.get("/vt") is None


def test_a_parent_left_by_an_expired_key_is_nothing_to_delete(
    make_client: Callable[..., coordkit.Client], client: coordkit.Client
) -> None:
    with make_client() as other:
        other.put("/left/k", "v", ephemeral=True)
    # The session ended: its key went without a coordkit delete (on ZooKeeper its implicit
    # parent stays, a node that is no key).
    assert client.get("/left/k") is None and client.get("/left") is None
    assert client.delete("/left") is False
    with pytest.raises(coordkit.VersionConflictError):
        client.delete("/left", version=1)


@pytest.mark.parametrize("create", [False, True])
def test_an_ephemeral_key_takes_the_place_of_a_parent_left_empty(
    make_client: Callable[..., coordkit.Client], client: coordkit.Client, create: bool
) -> None:
    with make_client() as other:
        other.put("/spot/k", "v", ephemeral=True)
    made = client.put("/spot", "mine", ephemeral=True, create=create)
    assert made.lease != 0 and made.version == 1
    assert client.get("/spot") == made
    assert client.children("/") == ["spot"]
