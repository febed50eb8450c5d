"""Bad input is refused at the edge with a clear coordkit error, and nothing is written."""

from __future__ import annotations

import uuid

import pytest

import coordkit
from coordkit import Check, Delete, Put
from coordkit.names import MAX_VALUE_BYTES


@pytest.fixture
def client() -> coordkit.Client:
    c = coordkit.connect(f"memory://{uuid.uuid4().hex}")
    yield c  # type: ignore[misc]
    c.close()


@pytest.mark.parametrize("version", [0, -1, True, "1", 1.5])
def test_versions_below_one_or_not_int_are_refused(client: coordkit.Client, version: object) -> None:
    client.put("/k", "v")
    for call in (
        lambda: client.put("/k", "w", version=version),  # type: ignore[arg-type]
        lambda: client.delete("/k", version=version),  # type: ignore[arg-type]
        lambda: client.commit([Check("/k", version=version), Put("/x", b"1")]),  # type: ignore[arg-type]
        lambda: client.commit([Delete("/k", version=version)]),
    ):  # type: ignore[arg-type]
        with pytest.raises(coordkit.ConfigurationError, match="version"):
            call()
    assert client.get_text("/k") == "v" and client.get("/x") is None


def test_oversized_values_are_refused_before_sending(client: coordkit.Client) -> None:
    with pytest.raises(coordkit.ConfigurationError, match="at most"):
        client.put("/big", b"x" * (MAX_VALUE_BYTES + 1))
    with pytest.raises(coordkit.ConfigurationError, match="at most"):
        client.commit([Put(f"/p{i}", b"x" * (MAX_VALUE_BYTES // 2)) for i in range(3)])
    with pytest.raises(coordkit.ConfigurationError, match="at most"):
        client.lock("l", identity="x" * (MAX_VALUE_BYTES + 1))
    with pytest.raises(coordkit.ConfigurationError, match="at most"):
        client.election("e").campaign("x" * (MAX_VALUE_BYTES + 1))
    assert client.tree("/") == []


@pytest.mark.parametrize("ops", [None, "abc", [], [None], [Put("/a", b"1"), Put("/a", b"2")]])
def test_malformed_commits_are_refused(client: coordkit.Client, ops: object) -> None:
    with pytest.raises(coordkit.ConfigurationError):
        client.commit(ops)  # type: ignore[arg-type]
    assert client.tree("/") == []


def test_create_and_version_together_are_refused(client: coordkit.Client) -> None:
    with pytest.raises(coordkit.ConfigurationError, match="not both"):
        client.put("/k", "v", create=True, version=1)


@pytest.mark.parametrize("timeout", ["1", float("nan"), True])
def test_bad_recipe_timeouts_and_identities(client: coordkit.Client, timeout: object) -> None:
    with pytest.raises(coordkit.ConfigurationError, match="timeout"):
        client.lock("l").acquire(timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(coordkit.ConfigurationError, match="identity"):
        client.lock("l", identity=5)  # type: ignore[arg-type]
    assert client.lock("l").acquire(timeout=float("inf"))


def test_bad_start_revision_is_refused(client: coordkit.Client) -> None:
    for bad in (0, -5, "a"):
        with pytest.raises(coordkit.ConfigurationError):
            client.watch("/k", start_revision=bad)  # type: ignore[arg-type]


def test_deeply_nested_config_values_do_not_break_the_config(client: coordkit.Client) -> None:
    client.put("/config/app/deep", "[" * 100_000)
    cfg = client.config("app")
    assert "deep" not in cfg and "deep" in cfg.snapshot().invalid  # starts like JSON, is not: never served
    cfg.close()
