"""Connecting to an endpoint that can never answer fails at once, with that endpoint's own
reason, the same kind of error and the same CLI exit code on ZooKeeper and etcd; an endpoint
that might still answer (a live one beside a dead one) is still waited for.

memory:// has no network, so these run on the two server backends only.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from click.testing import CliRunner

import coordkit
from coordkit import BackendUnavailableError
from coordkit.testing._registry import free_ports
from coordkit_cli.main import cli

TIMEOUT = 4.0  # seconds; every failure below must come in under half of it
SCHEME = {"zookeeper": "zk", "etcd": "etcd"}
OTHER = {"zookeeper": "etcd", "etcd": "zookeeper"}


@pytest.fixture(params=["zookeeper", "etcd"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fails_fast(url: str) -> str:
    """The message of the error connecting to ``url``, checking it came in time."""
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as caught:
        coordkit.connect(url, timeout=TIMEOUT).close()
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT / 2, f"took {elapsed:.2f}s of a {TIMEOUT:g}s timeout"
    message = str(caught.value)
    assert "\n" not in message
    return message


def _cli(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--url", url, "--timeout", str(TIMEOUT), "get", "/k"])
    return result.exit_code, result.output


def test_connection_refused(kind: str) -> None:
    endpoint = f"127.0.0.1:{free_ports(1)[0]}"
    url = f"{SCHEME[kind]}://{endpoint}"
    message = _fails_fast(url)
    assert f"{endpoint}: connection refused" in message
    code, output = _cli(url)
    assert code == 4 and "connection refused" in output


def test_host_name_that_does_not_resolve(kind: str) -> None:
    url = f"{SCHEME[kind]}://no-such-host.invalid:2181"
    message = _fails_fast(url)
    assert "host name 'no-such-host.invalid' does not resolve" in message
    code, output = _cli(url)
    assert code == 4 and "does not resolve" in output


def test_the_other_kind_of_server(kind: str, request: pytest.FixtureRequest) -> None:
    server: Any = request.getfixturevalue(f"{OTHER[kind]}_server")
    endpoint = server.endpoints[0]
    url = f"{SCHEME[kind]}://{endpoint}"
    message = _fails_fast(url)
    right = SCHEME[OTHER[kind]]
    assert f"{endpoint}: that is a" in message and f"(use {right}://{endpoint})" in message
    code, output = _cli(url)
    assert code == 4 and f"use {right}://" in output


def test_every_reason_is_named_when_all_endpoints_fail(kind: str) -> None:
    refused = f"127.0.0.1:{free_ports(1)[0]}"
    message = _fails_fast(f"{SCHEME[kind]}://{refused},no-such-host.invalid:2379")
    assert f"{refused}: connection refused" in message
    assert "no-such-host.invalid:2379: host name" in message


def test_a_live_endpoint_beside_a_dead_one_is_used(kind: str, request: pytest.FixtureRequest) -> None:
    server: Any = request.getfixturevalue(f"{kind}_server")
    refused = f"127.0.0.1:{free_ports(1)[0]}"
    for endpoints in ([refused, server.endpoints[0]], [server.endpoints[0], refused]):
        with coordkit.connect(f"{SCHEME[kind]}://{','.join(endpoints)}", timeout=TIMEOUT) as client:
            client.put("/probe/live", "yes")
            entry = client.get("/probe/live")
            assert entry is not None and entry.value == b"yes"


def test_a_plaintext_server_is_never_taken_for_a_tls_one(kind: str, request: pytest.FixtureRequest) -> None:
    """The TLS probe runs when a first session is slow to open: against a plaintext server it must
    learn nothing, whatever the Python build calls the closed handshake ("unexpected eof", "TLS/SSL
    connection has been closed (EOF)"). Debian's Python 3.11.2 made it report "speaks TLS", and a
    merely slow ZooKeeper then failed its connect with a TLSError."""
    from coordkit.core.tls_probe import diagnose

    server: Any = request.getfixturevalue(f"{kind}_server")
    for _ in range(3):
        assert diagnose(server.endpoints[0], None, 2.0, scheme=kind) is None
