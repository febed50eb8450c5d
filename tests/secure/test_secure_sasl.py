"""ZooKeeper SASL DIGEST-MD5: the server checks the password, so a wrong one or an unknown user
is an AuthenticationError at connect (never retried), and ACLs name ``sasl:<user>``."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

import coordkit
from coordkit.testing._secure import SecureZooKeeperServer


def _connect(
    server: SecureZooKeeperServer, url: str, user: str, password: str, **more: Any
) -> coordkit.Client:
    return coordkit.connect(url, user=user, password=password, sasl="DIGEST-MD5", timeout=10, **more)


def test_sasl_user_owns_what_it_creates(sasl_zk: SecureZooKeeperServer) -> None:
    url = f"{sasl_zk.plain_url}/ck-{uuid.uuid4().hex[:8]}"
    with _connect(sasl_zk, url, "alice", sasl_zk.secrets.user("alice").password) as alice:
        with alice.lock("jobs/nightly") as lock:
            alice.put("/app/x", "1", fence=lock)
        with (
            _connect(sasl_zk, url, "bob", sasl_zk.secrets.user("bob").password) as bob,
            pytest.raises(coordkit.PermissionDeniedError, match="SASL user 'bob'"),
        ):
            bob.delete("/app/x")
        assert alice.get("/app/x").value == b"1"


@pytest.mark.parametrize("user, password", [("alice", "not-the-password"), ("mallory", "guess")])
def test_wrong_sasl_credentials_fail_at_connect(
    sasl_zk: SecureZooKeeperServer, user: str, password: str
) -> None:
    url = f"{sasl_zk.plain_url}/ck-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(coordkit.AuthenticationError, match="rejected the credentials"):
        _connect(sasl_zk, url, user, password).close()
    assert time.monotonic() - started < 5
    with _connect(sasl_zk, sasl_zk.plain_url, "alice", sasl_zk.secrets.user("alice").password) as alice:
        assert alice.get("/" + url.rsplit("/", 1)[1]) is None  # not even the namespace was made


def test_sasl_over_tls(sasl_zk: SecureZooKeeperServer) -> None:
    creds = sasl_zk.credentials("alice")
    with coordkit.connect(f"{sasl_zk.url}/ck-{uuid.uuid4().hex[:8]}", sasl="digest-md5", **creds) as alice:
        alice.put("/x", "1")
