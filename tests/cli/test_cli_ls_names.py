"""ls names every key under what was asked once, under its real name, on every backend
(in-process CliRunner against real ZooKeeper and etcd servers, and memory://)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cli_helpers import make_runner, unique
from click.testing import Result

import coordkit
from coordkit_cli.main import cli


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def any_url(request: pytest.FixtureRequest) -> str:
    """A fresh namespace on each backend."""
    if request.param == "memory":
        return f"memory://{unique()}"
    server = request.getfixturevalue(f"{request.param}_server")
    return f"{server.url}/{unique()}"


@pytest.fixture
def any_store(any_url: str) -> Iterator[coordkit.Client]:
    with coordkit.connect(any_url) as client:
        yield client


def run(url: str, *args: str) -> Result:
    return make_runner().invoke(cli, ["--url", url, *args], catch_exceptions=False)


def test_ls_of_a_relative_path_lists_its_children(any_url: str, any_store: coordkit.Client) -> None:
    any_store.put("nc/rel/x", "1")
    any_store.put("nc/rel/sub/y", "2")
    assert run(any_url, "ls", "nc/rel").stdout.splitlines() == ["sub/", "x = 1"]
    assert run(any_url, "ls", "-r", "nc/rel").stdout.splitlines() == [
        "nc/rel",
        "├── sub/",
        "│   └── y = 2",
        "└── x = 1",
    ]


def test_ls_json_rows_carry_each_real_key(any_url: str, any_store: coordkit.Client) -> None:
    written = any_store.put("nc/rel/x", "1").key
    directory = written.rsplit("/", 1)[0] + "/sub"
    any_store.put("nc/rel/sub/y", "2")
    rows = json.loads(run(any_url, "--json", "ls", "nc/rel").stdout)
    assert [(r["key"], r["has_children"]) for r in rows] == [(directory, True), (written, False)]
    deep = json.loads(run(any_url, "--json", "ls", "-r", "nc/rel").stdout)
    real = {e.key for e in any_store.tree("nc/rel")}
    assert [r["key"] for r in deep] == sorted(real) and len(real) == 2


@pytest.fixture
def etcd_root(etcd_server) -> str:  # type: ignore[no-untyped-def]
    """The shared etcd without a namespace, where ``x`` and ``/x`` are two keys."""
    return str(etcd_server.url)


def test_ls_at_the_etcd_root_shows_both_spellings_once(etcd_root: str) -> None:
    name = unique("nc2")
    with coordkit.connect(etcd_root) as client:
        client.put(f"{name}/dup", "a")
        client.put(f"/{name}/dup", "b")
        try:
            lines = run(etcd_root, "ls", "-r", "/").stdout.splitlines()
            assert [line.split()[-1] for line in lines if name in line] == [f"/{name}/", f"{name}/"]
            plain = run(etcd_root, "ls", "/").stdout.splitlines()
            assert f"/{name}/" in plain and f"{name}/" in plain
            rows = json.loads(run(etcd_root, "--json", "ls", "-r", "/").stdout)
            assert {(r["key"], r["value"]) for r in rows if name in r["key"]} == {
                (f"{name}/dup", "a"),
                (f"/{name}/dup", "b"),
            }
        finally:
            client.delete(f"{name}/dup")
            client.delete(f"/{name}/dup")
