"""How large one commit may be: the same limit on every backend, refused before sending."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import coordkit
from coordkit import Check, Delete, Put
from coordkit.names import MAX_COMMIT_OPS, MAX_VALUE_BYTES
from coordkit_cli.main import cli


def test_a_commit_of_the_largest_size_applies_on_every_backend(client: coordkit.Client) -> None:
    client.put("/big/k000", "old")
    ops = [Put(f"/big/k{i:03d}", str(i).encode()) for i in range(MAX_COMMIT_OPS)]
    results = client.commit(ops)
    assert [r.value for r in results if r is not None] == [str(i).encode() for i in range(MAX_COMMIT_OPS)]
    first = results[0]
    assert first is not None and first.version == 2  # an update: the version read back is right
    fresh = results[1]
    assert fresh is not None and fresh.version == 1 and fresh.create_revision == fresh.mod_revision
    assert len(client.tree("/big")) == MAX_COMMIT_OPS


def test_conditional_writes_at_the_limit_apply(client: coordkit.Client) -> None:
    base = [client.put(f"/cond/k{i:03d}", "0") for i in range(MAX_COMMIT_OPS // 2)]
    ops: list[coordkit.Put | coordkit.Check | coordkit.Delete] = [
        Put(e.key, b"1", version=e.version) for e in base
    ]
    ops += [Put(f"/cond/new{i:03d}", b"n", create=True) for i in range(MAX_COMMIT_OPS - len(ops))]
    results = client.commit(ops)
    assert all(r is not None and r.value in (b"1", b"n") for r in results)
    assert {e.key: e.version for e in client.tree("/cond") if e.key.startswith("/cond/k")} == {
        e.key: 2 for e in base
    }


def test_a_commit_over_the_limit_is_refused_before_anything_is_sent(client: coordkit.Client) -> None:
    ops = [Put(f"/over/k{i:03d}", b"x") for i in range(MAX_COMMIT_OPS + 1)]
    with pytest.raises(coordkit.CommitTooLargeError) as caught:
        client.commit(ops)
    assert isinstance(caught.value, coordkit.ConfigurationError)
    message = str(caught.value)
    assert str(MAX_COMMIT_OPS) in message and "--max-txn-ops" in message and "split" in message
    assert client.tree("/over") == []


def test_a_check_on_version_and_create_revision_counts_twice(client: coordkit.Client) -> None:
    entry = client.put("/twice", "1")
    check = Check("/twice", version=entry.version, create_revision=entry.create_revision)
    ops: list[coordkit.Put | coordkit.Check | coordkit.Delete] = [check]
    ops += [Delete(f"/twice/d{i:03d}") for i in range(MAX_COMMIT_OPS - 1)]
    with pytest.raises(coordkit.CommitTooLargeError):
        client.commit(ops)
    client.commit(ops[:-1])  # one fewer fits


def test_a_commit_over_the_byte_limit_names_the_server_setting(client: coordkit.Client) -> None:
    chunk = b"x" * (300 * 1024)
    with pytest.raises(coordkit.CommitTooLargeError, match=re.escape("jute.maxbuffer")):
        client.commit([Put(f"/bytes/k{i}", chunk) for i in range(4)])
    assert client.tree("/bytes") == []


def test_a_config_of_120_keys_updates_in_one_change(client: coordkit.Client) -> None:
    values = {f"key{i:03d}": i for i in range(120)}
    with client.config("wide", writable=True) as cfg:
        first = cfg.update(values)
        second = cfg.update({k: v + 1 for k, v in values.items()})
    stored = {e.key: e for e in client.tree("/config/wide") if e.key.rsplit("/", 1)[-1] in values}
    assert len(stored) == 120
    # One change: every key carries the same revision.
    assert {e.mod_revision for e in stored.values()} == {second} and second > first
    assert all(json.loads(e.value) == values[k.rsplit("/", 1)[-1]] + 1 for k, e in stored.items())


def test_a_config_change_over_the_limit_is_refused_naming_the_config(client: coordkit.Client) -> None:
    with client.config("huge", writable=True) as cfg:
        with pytest.raises(coordkit.CommitTooLargeError, match=r"'huge'.*127 keys"):
            cfg.update({f"key{i:03d}": i for i in range(MAX_COMMIT_OPS)})
        cfg.update({f"key{i:03d}": i for i in range(MAX_COMMIT_OPS - 1)})  # the largest change fits
    assert len([e for e in client.tree("/config/huge") if "key" in e.key]) == MAX_COMMIT_OPS - 1


def test_config_import_of_120_keys_is_one_change(
    store_url: str, tmp_path: Path, client: coordkit.Client
) -> None:
    document = tmp_path / "big.json"
    document.write_text(json.dumps({f"key{i:03d}": f"v{i}" for i in range(120)}))
    result = CliRunner().invoke(cli, ["--url", store_url, "config", "import", "wide", str(document)])
    assert result.exit_code == 0, result.output
    stored = [e for e in client.tree("/config/wide") if e.key.rsplit("/", 1)[-1].startswith("key")]
    assert len(stored) == 120 and len({e.mod_revision for e in stored}) == 1


def test_keys_count_towards_the_byte_limit(client: coordkit.Client) -> None:
    """A multi carries each key's path with its value: 128 long keys with values just under
    the limit overflow ZooKeeper's packet (which dropped the connection), so every backend
    refuses the commit before sending it; the same keys with small values fit."""
    mine = client.put("/long-keys-session", "held", ephemeral=True)
    keys = [f"/long/{i:03d}" + "k" * 3900 for i in range(MAX_COMMIT_OPS)]
    value = b"v" * (MAX_VALUE_BYTES // MAX_COMMIT_OPS)
    with pytest.raises(coordkit.CommitTooLargeError, match="keys"):
        client.commit([Put(key, value) for key in keys])
    assert client.tree("/long") == [] and client.get("/long-keys-session") == mine
    client.commit([Put(key, b"small") for key in keys])
    assert len(client.tree("/long")) == MAX_COMMIT_OPS
