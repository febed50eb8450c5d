"""Secure servers shared by the secure suite, and its secrets guard.

Every test here runs with everything it prints (file descriptors 1 and 2, hence also gRPC's
and kazoo's own output) and everything logged at DEBUG captured; after the test, no password
and no line of a private key of either server may appear in it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import coordkit
from coordkit.testing._secure import SecureEtcdServer, SecureZooKeeperServer, User

SECURE_BACKENDS = ["etcd", "zookeeper"]
_SERVERS: list[SecureEtcdServer | SecureZooKeeperServer] = []


@pytest.fixture(scope="session")
def secure_etcd() -> Iterator[SecureEtcdServer]:
    """etcd with TLS, client certificates and auth: alice may touch every key, bob only
    keys under ``/bob/``."""
    with SecureEtcdServer(users=[User("alice"), User("bob", prefixes=("/bob/",))]) as server:
        _SERVERS.append(server)
        yield server


@pytest.fixture(scope="session")
def secure_zk() -> Iterator[SecureZooKeeperServer]:
    """ZooKeeper with a TLS secureClientPort (client certificates required); users alice, bob."""
    with SecureZooKeeperServer(users=[User("alice"), User("bob")]) as server:
        _SERVERS.append(server)
        yield server


@pytest.fixture(scope="session")
def sasl_zk() -> Iterator[SecureZooKeeperServer]:
    """ZooKeeper whose users alice and bob are also SASL DIGEST-MD5 users (JAAS)."""
    with SecureZooKeeperServer(users=[User("alice"), User("bob")], sasl=True) as server:
        _SERVERS.append(server)
        yield server


def secrets_of(server: SecureEtcdServer | SecureZooKeeperServer) -> list[str]:
    """Every password and every private-key line of ``server``'s credentials."""
    found = [user.password for user in server.secrets.users.values()]
    for key in Path(server.secrets.folder).glob("*-key.pem"):
        found += [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
    return found


def assert_no_secret(text: str) -> None:
    """Fail naming the server and kind of secret, never the secret (the report is output too)."""
    for server in _SERVERS:
        leaked = sum(secret in text for secret in secrets_of(server))
        if leaked:
            where = text.splitlines()
            raise AssertionError(
                f"{leaked} secret(s) of {type(server).__name__} appeared in {len(where)} line(s) of output"
            )


@pytest.fixture
def no_secret_in() -> Callable[[str], None]:
    """``no_secret_in(text)``: fail if a password or private-key line of a secure server is in it."""
    return assert_no_secret


@pytest.fixture(autouse=True)
def no_secret_printed(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capfd.readouterr()
    logged = [
        caplog.handler.format(record)
        for when in ("setup", "call", "teardown")
        for record in caplog.get_records(when)
    ]  # type: ignore[arg-type]
    assert_no_secret("\n".join([out, err, *logged]))


@pytest.fixture(params=SECURE_BACKENDS)
def secure_server(request: pytest.FixtureRequest) -> SecureEtcdServer | SecureZooKeeperServer:
    return request.getfixturevalue("secure_etcd" if request.param == "etcd" else "secure_zk")


@pytest.fixture
def secure_url(secure_server: SecureEtcdServer | SecureZooKeeperServer) -> str:
    """A fresh namespace on the secure server under test."""
    return f"{secure_server.url}/ck-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def connect_as(secure_url: str, secure_server: Any) -> Iterator[Callable[..., coordkit.Client]]:
    """``connect_as("alice", **more)``: a client with that user's credentials; closed after."""
    clients: list[coordkit.Client] = []

    def make(user: str, url: str | None = None, **options: Any) -> coordkit.Client:
        options = {"ttl": 4, **secure_server.credentials(user), **options}
        client = coordkit.connect(url or secure_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
