"""One key model on every backend: keys form a flat namespace of names, a key exists only if
it was written, and the parents ZooKeeper needs for a key's node are not keys."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import coordkit
from coordkit import Delete, EventType, Put
from coordkit.names import PARENT_MARK
from coordkit_cli.main import cli

DEADLINE = 10.0


def test_deleting_a_key_leaves_the_keys_below_it(client: coordkit.Client) -> None:
    client.put("/p", "parent")
    client.put("/p/child", "c")
    assert client.delete("/p") is True
    assert client.get("/p") is None
    assert client.get_text("/p/child") == "c"
    assert [e.key for e in client.tree("/")] == ["/p/child"]
    assert client.children("/") == ["p"] and client.children("/p") == ["child"]
    assert client.delete("/p") is False
    with pytest.raises(coordkit.VersionConflictError):
        client.delete("/p", version=1)


def test_a_parent_never_written_is_not_a_key(client: coordkit.Client) -> None:
    client.put("/a/b/c", "leaf")
    assert client.get("/a") is None and client.get("/a/b") is None
    assert [e.key for e in client.tree("/")] == ["/a/b/c"]
    assert client.children("/a") == ["b"]
    assert client.delete("/a/b") is False


def test_a_parent_can_become_a_key_and_stop_being_one(client: coordkit.Client) -> None:
    client.put("/q/child", "c")
    made = client.put("/q", "now a key", create=True)
    assert made.value == b"now a key"
    with pytest.raises(coordkit.KeyExistsError):
        client.put("/q", "again", create=True)
    assert client.get_text("/q") == "now a key"
    assert client.delete("/q", version=made.version) is True
    assert client.get("/q") is None
    client.put("/q", "plain put")
    assert client.get_text("/q") == "plain put" and client.get_text("/q/child") == "c"


def test_the_last_child_takes_its_parents_with_it(client: coordkit.Client) -> None:
    client.put("/gone/x/y", "1")
    client.put("/kept", "k")
    assert client.delete("/gone/x/y") is True
    assert client.children("/") == ["kept"]
    assert client.tree("/gone") == []


def test_a_commit_deletes_a_key_that_has_keys_below(client: coordkit.Client) -> None:
    client.put("/tx/p", "1")
    client.put("/tx/p/c", "2")
    client.commit([Delete("/tx/p"), Put("/tx/other", b"3")])
    assert client.get("/tx/p") is None and client.get_text("/tx/p/c") == "2"
    assert sorted(e.key for e in client.tree("/tx")) == ["/tx/other", "/tx/p/c"]


def test_watches_report_keys_not_parents(client: coordkit.Client) -> None:
    client.put("/w/p", "1")
    with client.watch("/w", recursive=True) as watch:
        client.put("/w/p/c", "2")
        client.put("/w/new/deep", "3")
        client.delete("/w/p")
        events = [watch.get(timeout=DEADLINE) for _ in range(3)]
        client.put("/w/done", "4")
        last = watch.get(timeout=DEADLINE)
    seen = [(e.type, e.key) for e in events if e is not None]
    assert seen == [(EventType.PUT, "/w/p/c"), (EventType.PUT, "/w/new/deep"), (EventType.DELETE, "/w/p")]
    assert last is not None and last.key == "/w/done"  # nothing about /w/new came in between


def test_the_parent_mark_is_not_a_value(client: coordkit.Client) -> None:
    with pytest.raises(coordkit.ConfigurationError, match="reserved"):
        client.put("/marked", PARENT_MARK)
    assert client.get("/marked") is None


def test_del_of_a_key_with_keys_below_exits_0_everywhere(store_url: str, client: coordkit.Client) -> None:
    client.put("/cli/p", "1")
    client.put("/cli/p/c", "2")
    first = CliRunner().invoke(cli, ["--url", store_url, "del", "/cli/p"])
    assert (first.exit_code, client.get("/cli/p"), client.get_text("/cli/p/c")) == (0, None, "2")
    again = CliRunner().invoke(cli, ["--url", store_url, "del", "/cli/p"])
    assert again.exit_code == 1
