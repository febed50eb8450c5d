"""Key/value semantics, identical on every backend."""

from __future__ import annotations

import pytest

import coordkit
from coordkit import Check, Delete, Put


def test_put_get_roundtrip_and_versions(client: coordkit.Client) -> None:
    first = client.put("/app/timeout", "5")
    assert (first.key, first.value, first.version) == ("/app/timeout", b"5", 1)
    second = client.put("/app/timeout", b"6")
    assert second.version == 2
    assert second.create_revision == first.create_revision
    assert second.mod_revision > first.mod_revision
    got = client.get("/app/timeout")
    assert got is not None and got.value == b"6" and got.version == 2
    assert client.get_text("/app/timeout") == "6"
    assert client.get("/app/missing") is None
    assert client.get_text("/app/missing", "dflt") == "dflt"


def test_binary_values_survive(client: coordkit.Client) -> None:
    blob = bytes(range(256))
    client.put("/bin", blob)
    entry = client.get("/bin")
    assert entry is not None and entry.value == blob


def test_create_if_absent(client: coordkit.Client) -> None:
    client.put("/once", "a", create=True)
    with pytest.raises(coordkit.KeyExistsError):
        client.put("/once", "b", create=True)
    assert client.get_text("/once") == "a"


def test_compare_and_set(client: coordkit.Client) -> None:
    entry = client.put("/cas", "1")
    updated = client.put("/cas", "2", version=entry.version)
    assert updated.version == entry.version + 1
    with pytest.raises(coordkit.VersionConflictError):
        client.put("/cas", "3", version=entry.version)
    with pytest.raises(coordkit.VersionConflictError):
        client.put("/absent", "x", version=1)
    assert client.get_text("/cas") == "2"
    assert client.get("/absent") is None


def test_version_restarts_after_recreate(client: coordkit.Client) -> None:
    client.put("/v", "1")
    client.put("/v", "2")
    client.delete("/v")
    again = client.put("/v", "3")
    assert again.version == 1


def test_delete(client: coordkit.Client) -> None:
    entry = client.put("/d", "x")
    assert client.delete("/d/missing") is False
    with pytest.raises(coordkit.VersionConflictError):
        client.delete("/d", version=entry.version + 1)
    assert client.get("/d") is not None
    assert client.delete("/d", version=entry.version) is True
    assert client.get("/d") is None
    assert client.delete("/d") is False


def test_recursive_delete(client: coordkit.Client) -> None:
    for key in ("/tree/a", "/tree/b/c", "/tree/b/d", "/treehouse"):
        client.put(key, "v")
    client.delete("/tree", recursive=True)
    assert [e.key for e in client.tree("/")] == ["/treehouse"]


def test_children_and_tree(client: coordkit.Client) -> None:
    for key in ("/svc/a/1", "/svc/a/2", "/svc/b", "/other"):
        client.put(key, key)
    assert client.children("/svc") == ["a", "b"]
    assert client.children("/svc/a") == ["1", "2"]
    assert client.children("/nothing/here") == []
    assert "svc" in client.children("/") and "other" in client.children("/")
    leaves = {e.key: e.value for e in client.tree("/svc") if e.value}
    assert leaves == {"/svc/a/1": b"/svc/a/1", "/svc/a/2": b"/svc/a/2", "/svc/b": b"/svc/b"}


def test_commit_is_all_or_nothing(client: coordkit.Client) -> None:
    base = client.put("/tx/a", "1")
    with pytest.raises(coordkit.VersionConflictError):
        client.commit([Put("/tx/b", b"2"), Check("/tx/a", version=base.version + 5)])
    assert client.get("/tx/b") is None
    with pytest.raises(coordkit.KeyExistsError):
        client.commit([Put("/tx/c", b"3"), Put("/tx/a", b"x", create=True)])
    assert client.get("/tx/c") is None
    results = client.commit(
        [
            Check("/tx/a", version=base.version),
            Put("/tx/b", b"2"),
            Delete("/tx/a", version=base.version),
        ]
    )
    assert results[1] is not None and results[1].value == b"2"
    assert client.get("/tx/a") is None and client.get_text("/tx/b") == "2"


def test_commit_check_on_create_revision(client: coordkit.Client) -> None:
    first = client.put("/fence", "1")
    client.commit([Check("/fence", create_revision=first.create_revision), Put("/w", b"ok")])
    client.delete("/fence")
    client.put("/fence", "again")
    with pytest.raises(coordkit.ConflictError):
        client.commit([Check("/fence", create_revision=first.create_revision), Put("/w", b"stale")])
    assert client.get_text("/w") == "ok"


BAD_NAMES = ["", "/", "a//b", "a/", "a/../b", "./a", "a/\x00b", "a\nb", "tab\there", "x" * 5000]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_are_refused_and_nothing_is_written(client: coordkit.Client, bad: str) -> None:
    with pytest.raises(coordkit.InvalidNameError):
        client.put(bad, "v")
    with pytest.raises(coordkit.InvalidNameError):
        client.get(bad)
    with pytest.raises(coordkit.InvalidNameError):
        client.delete(bad)
    assert client.tree("/") == []


def test_non_string_name_and_value_are_refused(client: coordkit.Client) -> None:
    with pytest.raises(coordkit.InvalidNameError):
        client.put(42, "v")  # type: ignore[arg-type]
    with pytest.raises(coordkit.ConfigurationError):
        client.put("/ok", 42)  # type: ignore[arg-type]
    assert client.get("/ok") is None


def test_leading_slash_is_insignificant_inside_a_namespace(client: coordkit.Client) -> None:
    client.put("plain", "1")
    assert client.get_text("/plain") == "1"


def test_closed_client_refuses_operations(make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client()
    c.close()
    c.close()  # idempotent
    with pytest.raises(coordkit.ClosedError):
        c.get("/x")


def test_commit_of_many_new_keys(client: coordkit.Client) -> None:
    client.put("/many/k00", "existing")
    results = client.commit([Put(f"/many/k{i:02d}", str(i).encode()) for i in range(50)])
    assert [r.value for r in results if r is not None] == [str(i).encode() for i in range(50)]
    assert len(client.tree("/many")) == 50


def test_conflicts_name_their_kind_whatever_the_key_spelling(client: coordkit.Client) -> None:
    client.put("rel/key", "1")
    with pytest.raises(coordkit.KeyExistsError):
        client.put("rel/key", "2", create=True)
    with pytest.raises(coordkit.VersionConflictError):
        client.put("rel/key", "2", version=7)
    with pytest.raises(coordkit.VersionConflictError):
        client.delete("rel/key", version=7)
    with pytest.raises(coordkit.VersionConflictError):
        client.commit([Check("rel/key", version=7), Put("rel/other", b"x")])
