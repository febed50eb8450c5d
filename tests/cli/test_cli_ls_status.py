"""ls (human, tree and JSON) and status, in-process with CliRunner on memory:// stores."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result

import coordkit

Invoke = Callable[..., Result]


@pytest.fixture
def app(store: coordkit.Client) -> coordkit.Client:
    """A small tree: a key with keys below it, a directory, binary, empty, long, ephemeral."""
    store.put("/app", "root value")
    store.put("/app/config/db", "postgres://db.internal:5432/orders")
    store.put("/app/config/timeout", "5")
    store.put("/app/blob", b"\xff\x00\x01")
    store.put("/app/empty", "")
    store.put("/app/motd", "x" * 100)
    store.put("/app/leader", "node-1", ephemeral=True)
    store.put("/top", "t")
    return store


def test_ls_root_marks_children_that_have_keys_below(invoke: Invoke, app: coordkit.Client) -> None:
    result = invoke("ls")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["app/ = root value", "top  = t"]


def test_ls_shows_previews_aligned(invoke: Invoke, app: coordkit.Client) -> None:
    lines = invoke("ls", "/app").stdout.splitlines()
    assert lines[0] == "blob   = <3 bytes>"
    assert lines[1] == "config/"
    assert lines[2] == 'empty  = ""'
    assert lines[3] == "leader = node-1  (ephemeral)"
    assert lines[4].startswith("motd   = xxxx") and lines[4].endswith("…")
    assert len(lines[4]) < 80
    assert len(lines) == 5


def test_ls_escapes_newlines_so_one_key_is_one_line(invoke: Invoke, store: coordkit.Client) -> None:
    store.put("/d/multi", "a\nb")
    assert invoke("ls", "/d").stdout == "multi = a\\nb\n"


def test_ls_recursive_draws_a_tree(invoke: Invoke, app: coordkit.Client) -> None:
    app.delete("/app/motd")
    assert invoke("ls", "-r", "/app").stdout.splitlines() == [
        "/app",
        "├── blob   = <3 bytes>",
        "├── config/",
        "│   ├── db      = postgres://db.internal:5432/orders",
        "│   └── timeout = 5",
        '├── empty  = ""',
        "└── leader = node-1  (ephemeral)",
    ]


def test_ls_trailing_slash_is_the_same_path(invoke: Invoke, app: coordkit.Client) -> None:
    assert invoke("ls", "/app/").stdout == invoke("ls", "/app").stdout


def test_ls_json_lists_immediate_children(invoke: Invoke, app: coordkit.Client) -> None:
    result = invoke("--json", "ls", "/app")
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == ["/app/blob", "/app/config", "/app/empty", "/app/leader", "/app/motd"]
    assert rows["/app/config"]["value"] is None and rows["/app/config"]["has_children"] is True
    assert rows["/app/leader"]["ephemeral"] is True
    assert rows["/app/leader"]["value"] == "node-1" and rows["/app/leader"]["encoding"] == "utf-8"
    assert rows["/app/blob"]["encoding"] == "base64"
    for field in ("version", "create_revision", "mod_revision"):
        assert isinstance(rows["/app/empty"][field], int)


def test_ls_recursive_json_lists_every_key(invoke: Invoke, app: coordkit.Client) -> None:
    rows = json.loads(invoke("--json", "ls", "-r", "/").stdout)
    keys = [row["key"] for row in rows]
    assert sorted(keys) == sorted(e.key for e in app.tree("/"))
    assert next(r for r in rows if r["key"] == "/app")["has_children"] is True


def test_ls_of_a_key_shows_the_key(invoke: Invoke, app: coordkit.Client) -> None:
    assert invoke("ls", "/app/leader").stdout == "/app/leader = node-1  (ephemeral)\n"
    assert [r["key"] for r in json.loads(invoke("--json", "ls", "/top").stdout)] == ["/top"]


def test_ls_missing_path_exits_1(
    invoke: Invoke, app: coordkit.Client, one_line_error: Callable[..., None]
) -> None:
    result = invoke("ls", "/nope")
    assert result.exit_code == 1
    one_line_error(result.stderr, "/nope")


def test_ls_empty_store_is_empty_not_an_error(invoke: Invoke) -> None:
    assert (invoke("ls").exit_code, invoke("ls").stdout) == (0, "")
    assert json.loads(invoke("--json", "ls", "-r").stdout) == []


def test_status_human(invoke: Invoke, memory_url: str) -> None:
    result = invoke("status")
    assert result.exit_code == 0
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert fields["backend"].strip().startswith("memory")
    assert fields["url"].strip() == memory_url
    assert "ttl" in fields["session"] and "connected" in fields["session"]
    assert fields["round trip"].strip().endswith("(median of 5 reads)")


def test_status_json(invoke: Invoke, memory_url: str) -> None:
    data = json.loads(invoke("--json", "status").stdout)
    assert data["kind"] == "memory" and data["url"] == memory_url
    assert data["session"]["state"] == "connected" and data["session"]["ttl"] > 0
    assert len(data["rtt_samples_ms"]) == 5 and data["rtt_ms"] >= 0
    assert set(data) >= {"endpoints", "server_version", "members", "leader", "details"}
