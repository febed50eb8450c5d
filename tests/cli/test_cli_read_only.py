"""Read-only commands open no session (issue 14): on etcd no lease is granted or revoked by
``get``, ``ls``, ``services`` or ``config get``, counted by etcd itself; and a client connected
with ``session=False`` reads and writes plain keys but refuses what needs a session, the same
on every backend."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from cli_helpers import unique

import coordkit
from coordkit.testing import EtcdServer

RunCli = Callable[..., object]

_COUNTER = re.compile(r"^etcd_debugging_lease_(granted|revoked)_total (\d+)", re.M)


def _lease_counters(client_url: str) -> dict[str, int]:
    """etcd's own count of leases granted and revoked since it started (its /metrics)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{client_url}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = {name: int(value) for name, value in _COUNTER.findall(text)}
    assert set(found) == {"granted", "revoked"}, "etcd no longer exports its lease counters"
    return found


@pytest.fixture
def lone_etcd() -> Iterator[EtcdServer]:
    """An etcd of this test's own: on the shared one, leases that earlier tests left behind expire
    while this test runs and move the revoked counter (CI saw 15 such revokes)."""
    with EtcdServer() as server:
        yield server


def test_read_commands_grant_no_lease_on_etcd(lone_etcd: EtcdServer, run_cli) -> None:  # type: ignore[no-untyped-def]
    etcd_server = lone_etcd
    client_url = etcd_server.client_url
    url = f"{etcd_server.url}/{unique()}"
    assert run_cli("--url", url, "put", "/k", "v").returncode == 0
    assert run_cli("--url", url, "config", "set", "app", "a", "1").returncode == 0
    before = _lease_counters(client_url)
    got = run_cli("--url", url, "get", "/k")
    assert (got.returncode, got.stdout) == (0, "v\n"), got.stderr
    missing = run_cli("--url", url, "get", "/missing")
    assert missing.returncode == 1 and "no such key" in missing.stderr
    listed = run_cli("--url", url, "ls", "/")
    assert listed.returncode == 0 and "k = v" in listed.stdout, listed.stderr
    assert run_cli("--url", url, "services").returncode == 0
    setting = run_cli("--url", url, "config", "get", "app", "a")
    assert (setting.returncode, setting.stdout) == (0, "1\n"), setting.stderr
    assert _lease_counters(client_url) == before
    # The counters do move for a command that holds a session: they measure what they say.
    assert run_cli("--url", url, "put", "/k", "w").returncode == 0
    after = _lease_counters(client_url)
    assert after["granted"] == before["granted"] + 1 and after["revoked"] == before["revoked"] + 1


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def any_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return f"memory://{unique()}"
    server = request.getfixturevalue(f"{request.param}_server")
    return f"{server.url}/{unique()}"


def test_a_read_only_client_reads_and_refuses_what_needs_a_session(any_url: str) -> None:
    with coordkit.connect(any_url, session=False) as reader:
        assert not reader.has_session
        assert reader.get("/k") is None
        reader.put("/k", "v")
        assert reader.get_text("/k") == "v"
        assert [e.key.rsplit("/", 1)[-1] for e in reader.tree("/")] == ["k"]
        refusals: list[Callable[[], object]] = [
            lambda: reader.put("/e", "x", ephemeral=True),
            lambda: reader.commit([coordkit.Put("/e", b"x", ephemeral=True)]),
            lambda: reader.lock("l"),
            lambda: reader.semaphore("s", 2),
            lambda: reader.election("e"),
            lambda: reader.register("svc", "127.0.0.1", 80),
        ]
        for refused in refusals:
            with pytest.raises(coordkit.ConfigurationError, match=r"needs a session.*session=False"):
                refused()
        assert reader.get("/e") is None  # nothing was sent
    with coordkit.connect(any_url) as writer:
        assert writer.has_session and writer.get_text("/k") == "v"
