"""ls, get, put and del, in-process with CliRunner on memory:// stores."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from click.testing import Result

import coordkit

Invoke = Callable[..., Result]

BINARY = b"\xff\xfe\x00\x01"


# --- get / put -----------------------------------------------------------------------
@pytest.mark.parametrize("args", [["put", "/k", "v"], ["config", "set", "app", "k", "1"]])
def test_a_write_to_memory_says_the_data_lives_in_this_process_only(invoke: Invoke, args: list[str]) -> None:
    """A memory:// store ends with the command: the write must not look durable."""
    result = invoke(*args)
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr.startswith("coordkit: memory:// keeps its data in this process only")
    assert len(result.stderr.splitlines()) == 1


def test_a_write_to_a_real_server_has_no_such_warning(server_url: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    put = run_cli("--url", server_url, "put", "/k", "v")
    assert (put.returncode, put.stdout, put.stderr) == (0, "", "")


def test_put_then_get_prints_the_value_with_a_newline(invoke: Invoke) -> None:
    put = invoke("put", "/app/timeout", "5")
    assert (put.exit_code, put.stdout) == (0, "")
    got = invoke("get", "/app/timeout")
    assert (got.exit_code, got.stdout_bytes) == (0, b"5\n")


def test_get_does_not_double_a_trailing_newline(invoke: Invoke) -> None:
    invoke("put", "/motd", "-", input=b"hello\nworld\n")
    assert invoke("get", "/motd").stdout_bytes == b"hello\nworld\n"


def test_put_from_stdin_keeps_bytes_and_get_writes_them_raw(invoke: Invoke, store: coordkit.Client) -> None:
    assert invoke("put", "/blob", "-", input=BINARY).exit_code == 0
    assert store.get("/blob").value == BINARY  # type: ignore[union-attr]
    assert invoke("get", "/blob").stdout_bytes == BINARY  # no newline added to binary


def test_get_json(invoke: Invoke, store: coordkit.Client) -> None:
    entry = store.put("/app/timeout", "5")
    data = json.loads(invoke("--json", "get", "/app/timeout").stdout)
    assert data == {
        "key": "/app/timeout",
        "value": "5",
        "encoding": "utf-8",
        "version": 1,
        "create_revision": entry.create_revision,
        "mod_revision": entry.mod_revision,
        "lease": 0,
        "ephemeral": False,
    }


def test_get_json_of_binary_value_is_base64(invoke: Invoke, store: coordkit.Client) -> None:
    store.put("/blob", BINARY)
    data = json.loads(invoke("--json", "get", "/blob").stdout)
    assert data["encoding"] == "base64"
    assert base64.b64decode(data["value"]) == BINARY


def test_get_missing_key_exits_1(invoke: Invoke, one_line_error: Callable[..., None]) -> None:
    result = invoke("get", "/a/b")
    assert result.exit_code == 1
    assert result.stdout == ""
    one_line_error(result.stderr, "/a/b: no such key")


def test_put_json_reports_the_new_version(invoke: Invoke) -> None:
    first = json.loads(invoke("--json", "put", "/k", "a").stdout)
    second = json.loads(invoke("--json", "put", "/k", "b").stdout)
    assert (first["key"], first["version"], second["version"]) == ("/k", 1, 2)
    assert second["create_revision"] == first["create_revision"]
    assert second["mod_revision"] > first["mod_revision"]


def test_put_with_version_is_compare_and_set(
    invoke: Invoke, store: coordkit.Client, one_line_error: Callable[..., None]
) -> None:
    store.put("/k", "a")
    assert invoke("put", "--version", "1", "/k", "b").exit_code == 0
    stale = invoke("put", "--version", "1", "/k", "c")
    assert stale.exit_code == 3
    one_line_error(stale.stderr)
    assert store.get_text("/k") == "b"


def test_put_create_refuses_an_existing_key(invoke: Invoke, store: coordkit.Client) -> None:
    assert invoke("put", "--create", "/k", "a").exit_code == 0
    again = invoke("put", "--create", "/k", "b")
    assert again.exit_code == 3
    assert store.get_text("/k") == "a"


def test_put_create_and_version_together_is_a_usage_error(invoke: Invoke) -> None:
    assert invoke("put", "--create", "--version", "2", "/k", "a").exit_code == 2


def test_value_starting_with_a_dash_goes_after_double_dash(invoke: Invoke, store: coordkit.Client) -> None:
    assert invoke("put", "--", "/k", "-1").exit_code == 0
    assert store.get_text("/k") == "-1"


def test_invalid_key_name_exits_2(invoke: Invoke, one_line_error: Callable[..., None]) -> None:
    result = invoke("get", "/a//b")
    assert result.exit_code == 2
    one_line_error(result.stderr, "/a//b")


# --- del -----------------------------------------------------------------------------
def test_del_removes_the_key(invoke: Invoke, store: coordkit.Client) -> None:
    store.put("/k", "v")
    result = invoke("del", "/k")
    assert (result.exit_code, result.stdout) == (0, "")
    assert store.get("/k") is None


def test_del_missing_key_exits_1_unless_forced(invoke: Invoke, one_line_error: Callable[..., None]) -> None:
    missing = invoke("del", "/nope")
    assert missing.exit_code == 1
    one_line_error(missing.stderr, "/nope: no such key")
    forced = invoke("del", "-f", "/nope")
    assert (forced.exit_code, forced.stderr) == (0, "")


def test_del_recursive_removes_the_subtree(invoke: Invoke, store: coordkit.Client) -> None:
    for key in ("/app", "/app/a", "/app/b/c", "/apple"):
        store.put(key, "x")
    assert invoke("del", "-r", "/app").exit_code == 0
    assert [e.key for e in store.tree("/")] == ["/apple"]


def test_del_with_stale_version_exits_3(invoke: Invoke, store: coordkit.Client) -> None:
    store.put("/k", "a")
    store.put("/k", "b")
    assert invoke("del", "--version", "1", "/k").exit_code == 3
    assert invoke("del", "--version", "2", "/k").exit_code == 0
    assert store.get("/k") is None


def test_del_json(invoke: Invoke, store: coordkit.Client) -> None:
    store.put("/k", "a")
    assert json.loads(invoke("--json", "del", "/k").stdout) == {"key": "/k", "deleted": True}
    assert json.loads(invoke("--json", "del", "-f", "/k").stdout) == {"key": "/k", "deleted": False}


def test_a_value_argument_that_is_not_utf8_is_stored_byte_for_byte(
    invoke: Invoke, store: coordkit.Client
) -> None:
    """A value decoded from argv with surrogateescape gets its bytes back (not a traceback)."""
    result = invoke("put", "/raw", "a\udcff\udced")
    assert result.exit_code == 0, result.stderr
    assert store.get("/raw").value == b"a\xff\xed"  # type: ignore[union-attr]
