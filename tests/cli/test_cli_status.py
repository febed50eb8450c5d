"""``coordkit status`` on real servers: each endpoint of the URL is checked on its own, a dead
one makes the exit 7 (unhealthy) on both backends, a healthy single member is healthy, JSON
numbers are numbers, and a TTL the server clamped is shown as granted."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

import coordkit
from coordkit.testing._etcd import EtcdServer
from coordkit.testing._registry import free_ports

Invoke = Callable[..., Result]

EXIT_UNHEALTHY = 7


@pytest.fixture(params=["zookeeper", "etcd"])
def server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_server")


def _status(invoke: Invoke, url: str) -> tuple[int, dict[str, Any], str]:
    result = invoke("--json", "status", url=url)
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_a_healthy_single_member_is_healthy(invoke: Invoke, server: Any) -> None:
    code, report, stderr = _status(invoke, server.url)
    assert (code, stderr) == (0, "")
    assert report["healthy"] is True and report["problems"] == []
    assert report["endpoint_health"] == [{"endpoint": server.endpoints[0], "up": True, "error": None}]
    assert report["leader"] and report["members"]
    human = invoke("status", url=server.url)
    assert human.exit_code == 0 and "health:" in human.stdout and "healthy" in human.stdout


def test_json_numbers_are_numbers(invoke: Invoke, server: Any) -> None:
    _, report, _ = _status(invoke, server.url)
    assert isinstance(report["session"]["id"], int) and isinstance(report["session"]["ttl"], float)
    assert isinstance(report["rtt_ms"], float)
    if report["kind"] == "etcd":
        for name in ("revision", "raft_term", "raft_index", "db_size"):
            assert isinstance(report["details"][name], int), name


def test_memory_revision_is_a_number(invoke: Invoke) -> None:
    result = invoke("--json", "status")
    assert result.exit_code == 0
    assert isinstance(json.loads(result.stdout)["details"]["revision"], int)


def test_a_dead_endpoint_beside_a_live_one_is_reported(invoke: Invoke, server: Any) -> None:
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    url = f"{server.scheme}://{server.endpoints[0]},{dead}"
    code, report, stderr = _status(invoke, url)
    assert code == EXIT_UNHEALTHY
    assert report["healthy"] is False
    rows = {row["endpoint"]: row for row in report["endpoint_health"]}
    assert rows[server.endpoints[0]]["up"] is True
    # the same short reason on both backends, not the client library's wording
    assert rows[dead]["up"] is False and rows[dead]["error"].startswith("connection refused")
    assert dead not in report["members"]
    assert f"{dead} does not answer" in stderr and stderr.startswith("coordkit: unhealthy")
    human = invoke("status", url=url)
    assert human.exit_code == EXIT_UNHEALTHY and f"{dead} (DOWN" in human.stdout


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_a_killed_cluster_member_is_not_healthy(
    invoke: Invoke, kind: str, request: pytest.FixtureRequest
) -> None:
    cluster = request.getfixturevalue("zookeeper_ensemble" if kind == "zookeeper" else "etcd_cluster")
    code, report, _ = _status(invoke, cluster.url)
    assert code == 0, report["problems"]
    victim = next(m for m in cluster.members if m is not cluster.leader)
    dead = victim.endpoints[0]
    victim.kill()
    cluster.wait_for_leader()
    code, report, stderr = _status(invoke, cluster.url)
    assert code == EXIT_UNHEALTHY and f"{dead} does not answer" in stderr
    assert [row["endpoint"] for row in report["endpoint_health"] if not row["up"]] == [dead]
    assert report["leader"]
    if kind == "zookeeper":
        assert dead not in report["members"] and len(report["members"]) == 2
    human = invoke("status", url=cluster.url).stdout
    members = next(line for line in human.splitlines() if line.startswith("members:"))
    assert dead not in members or f"{dead} (DOWN)" in members


def test_zookeeper_clamped_ttl_is_reported(
    invoke: Invoke, zookeeper_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, high = zookeeper_server.session_timeout_range
    with (
        caplog.at_level(logging.WARNING, logger="coordkit.session"),
        coordkit.connect(f"{zookeeper_server.url}?ttl=100") as client,
    ):
        assert client.session.ttl == high and client.session.requested_ttl == 100
    assert [
        r
        for r in caplog.records
        if r.name == "coordkit.session" and "asked for a TTL of 100s, the server granted" in r.getMessage()
    ]
    result = invoke("status", url=f"{zookeeper_server.url}?ttl=100")
    assert result.exit_code == 0
    session = next(line for line in result.stdout.splitlines() if line.startswith("session:"))
    assert f"ttl {high:g}s (asked 100s; the server granted {high:g}s)" in session


def test_etcd_clamped_ttl_is_reported(invoke: Invoke, caplog: pytest.LogCaptureFixture) -> None:
    # etcd's minimum lease TTL is 1.5 election timeouts: 4 s here gives 6 s.
    with EtcdServer(election_timeout_ms=4000) as slow:
        with (
            caplog.at_level(logging.WARNING, logger="coordkit.session"),
            coordkit.connect(f"{slow.url}?ttl=2") as client,
        ):
            granted = client.session.ttl
            assert granted >= 6 and client.session.requested_ttl == 2
        assert [
            r
            for r in caplog.records
            if r.name == "coordkit.session"
            and f"asked for a TTL of 2s, the server granted {granted:g}s" in r.getMessage()
        ]
        code, report, _ = _status(invoke, f"{slow.url}?ttl=2")
        assert code == 0 and report["session"]["ttl"] == granted
        assert report["session"]["requested_ttl"] == 2


def test_an_unclamped_ttl_is_not_warned_about(
    zookeeper_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="coordkit.session"),
        coordkit.connect(f"{zookeeper_server.url}?ttl=4") as client,
    ):
        assert client.session.ttl == 4
    assert not [r for r in caplog.records if "granted" in r.getMessage()]


def test_the_cli_warns_on_stderr_about_a_clamped_ttl(zookeeper_server: Any, run_cli: Any) -> None:
    _, high = zookeeper_server.session_timeout_range
    done = run_cli("--url", f"{zookeeper_server.url}?ttl=100", "get", "/no/such/key")
    assert done.returncode == 1
    assert f"asked for a TTL of 100s, the server granted {high:g}s" in done.stderr
    assert "kazoo" not in done.stderr and "Connecting to" not in done.stderr
