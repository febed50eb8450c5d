"""Versions and revisions past what a store counts in: a version no key can have is a
conflict, one past 64 bits a usage error, on every backend; neither may cost the session."""

from __future__ import annotations

import pytest

import coordkit
from coordkit import Check, Delete, Put

BEYOND_32_BITS = 2**40  # ZooKeeper counts versions in 32 bits
BEYOND_64_BITS = 2**63  # etcd counts versions and revisions in 64 bits


@pytest.mark.parametrize("write", ["put", "delete", "commit put", "commit delete", "commit check"])
def test_a_version_no_key_reaches_is_a_conflict(client: coordkit.Client, write: str) -> None:
    mine = client.put("/vr/mine", "held", ephemeral=True)
    client.put("/vr/k", "v")
    calls = {
        "put": lambda: client.put("/vr/k", "w", version=BEYOND_32_BITS),
        "delete": lambda: client.delete("/vr/k", version=BEYOND_32_BITS),
        "commit put": lambda: client.commit([Put("/vr/k", b"w", version=BEYOND_32_BITS)]),
        "commit delete": lambda: client.commit([Delete("/vr/k", version=BEYOND_32_BITS)]),
        "commit check": lambda: client.commit([Check("/vr/k", version=BEYOND_32_BITS), Put("/vr/o", b"1")]),
    }
    with pytest.raises(coordkit.VersionConflictError):
        calls[write]()
    assert client.get_text("/vr/k") == "v" and client.get("/vr/o") is None
    assert client.get("/vr/mine") == mine  # the session (and its ephemeral key) lives on


@pytest.mark.parametrize("write", ["put", "delete", "commit check", "commit revision"])
def test_a_version_past_64_bits_is_a_usage_error(client: coordkit.Client, write: str) -> None:
    client.put("/vr/k", "v")
    calls = {
        "put": lambda: client.put("/vr/k", "w", version=BEYOND_64_BITS),
        "delete": lambda: client.delete("/vr/k", version=BEYOND_64_BITS),
        "commit check": lambda: client.commit([Check("/vr/k", version=BEYOND_64_BITS)]),
        "commit revision": lambda: client.commit([Check("/vr/k", create_revision=BEYOND_64_BITS)]),
    }
    with pytest.raises(coordkit.ConfigurationError, match=r"version|revision"):
        calls[write]()
    assert client.get_text("/vr/k") == "v"
