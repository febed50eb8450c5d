"""Each wrong credential gets its own one-line error, fast (never retried), and nothing is written."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import coordkit
from coordkit.testing._certs import CertificateAuthority
from coordkit.testing._secure import SecureEtcdServer, SecureZooKeeperServer, User

TIMEOUT = 10.0  # each failure below must arrive in under half of it


@pytest.fixture
def admin(connect_as: Callable[..., coordkit.Client]) -> coordkit.Client:
    """alice's client on the test's namespace, which it creates (on ZooKeeper, with alice's ACL)."""
    client = connect_as("alice")
    client.put("/app/seen", "alice was here")
    return client


def refused(
    secure_url: str,
    admin: coordkit.Client,
    expected: type[Exception],
    *,
    url: str | None = None,
    **options: Any,
) -> str:
    """Connect with ``options`` and write /app/k; return the error's message once checked that
    it is ``expected``, one line, quick, and that /app/k was not written."""
    started = time.monotonic()
    with (
        pytest.raises(expected) as caught,
        coordkit.connect(url or secure_url, timeout=TIMEOUT, **options) as client,
    ):
        client.put("/app/k", "must not land")
    assert time.monotonic() - started < TIMEOUT / 2 + 2.5  # the TLS probe may take up to 2 s
    assert admin.get("/app/k") is None
    message = str(caught.value)
    assert "\n" not in message
    return message


def _password_only(server: Any, url: str) -> str:
    """On ZooKeeper a client certificate is an identity of its own (x509:CN=alice) that the
    creator ACL also lists: test passwords over the plain port, where only digest counts."""
    if isinstance(server, SecureZooKeeperServer):
        return url.replace(server.url, server.plain_url)
    return url


def test_wrong_password(secure_server: Any, secure_url: str, admin: coordkit.Client) -> None:
    creds = {**secure_server.credentials("alice"), "password": "not-the-password"}
    creds.pop("password_file")
    url = _password_only(secure_server, secure_url)
    if isinstance(secure_server, SecureEtcdServer):
        message = refused(secure_url, admin, coordkit.AuthenticationError, **creds)
        assert "user or password was rejected" in message
    else:  # a digest password names another identity: refused by alice's ACL
        creds.pop("tls")
        message = refused(secure_url, admin, coordkit.PermissionDeniedError, url=url, **creds)
        assert "digest user 'alice'" in message and "wrong one is another identity" in message


def test_unknown_user(secure_server: Any, secure_url: str, admin: coordkit.Client) -> None:
    creds = {**secure_server.credentials("alice"), "user": "mallory"}
    if isinstance(secure_server, SecureEtcdServer):
        assert "rejected" in refused(secure_url, admin, coordkit.AuthenticationError, **creds)
    else:
        creds.pop("tls")
        url = _password_only(secure_server, secure_url)
        assert "'mallory'" in refused(secure_url, admin, coordkit.PermissionDeniedError, url=url, **creds)


def test_untrusted_server_certificate(
    secure_server: Any, secure_url: str, admin: coordkit.Client, tmp_path: Any
) -> None:
    rogue = CertificateAuthority(tmp_path, "rogue")
    tls = secure_server.credentials("alice")["tls"]
    creds = {
        **secure_server.credentials("alice"),
        "tls": coordkit.TLS(ca=rogue.ca, cert=tls.cert, key=tls.key),
    }
    message = refused(secure_url, admin, coordkit.TLSError, **creds)
    assert "is not trusted by the CA bundle" in message and "rogue-ca.pem" in message


def test_expired_client_certificate(secure_server: Any, secure_url: str, admin: coordkit.Client) -> None:
    old = secure_server.secrets.authority.issue("alice-old", client=True, expired=True)
    creds = {**secure_server.credentials("alice"), "tls": coordkit.TLS(ca=old.ca, cert=old.cert, key=old.key)}
    message = refused(secure_url, admin, coordkit.TLSError, **creds)
    assert "client certificate" in message and "expired" in message


def test_missing_client_certificate(secure_server: Any, secure_url: str, admin: coordkit.Client) -> None:
    creds = secure_server.credentials("alice", client_cert=False)
    message = refused(secure_url, admin, coordkit.TLSError, **creds)
    assert "requires a client certificate" in message


def test_plaintext_client_on_the_tls_port(
    secure_server: Any, secure_url: str, admin: coordkit.Client
) -> None:
    creds = secure_server.credentials("alice")
    del creds["tls"]
    plain = secure_url.replace("etcds://", "etcd://")
    message = refused(secure_url, admin, coordkit.TLSError, url=plain, **creds)
    assert "speaks TLS" in message


def test_tls_client_on_a_plaintext_port(
    secure_server: Any, secure_url: str, admin: coordkit.Client, request: pytest.FixtureRequest
) -> None:
    plain = request.getfixturevalue(
        "etcd_server" if isinstance(secure_server, SecureEtcdServer) else "zookeeper_server"
    )
    creds = secure_server.credentials("alice")
    del creds["user"], creds["password_file"]
    message = refused(
        secure_url, admin, coordkit.TLSError, url=f"{plain.url}/ck-{uuid.uuid4().hex[:8]}", **creds
    )
    assert "does not speak TLS" in message


def test_permission_denied_names_key_and_operation(
    secure_server: Any, secure_url: str, admin: coordkit.Client
) -> None:
    # etcd: bob's role covers only bob/; ZooKeeper: the namespace and its nodes are alice's.
    message = refused(secure_url, admin, coordkit.PermissionDeniedError, **secure_server.credentials("bob"))
    assert "/app/k" in message and "permission denied" in message


@pytest.fixture(params=["etcd", "zookeeper"])
def misnamed_server(request: pytest.FixtureRequest) -> Iterator[SecureEtcdServer | SecureZooKeeperServer]:
    """A secure server whose certificate names only db.example, not 127.0.0.1."""
    if request.param == "etcd":  # no users needed: the handshake fails first
        with SecureEtcdServer(users=[User("alice")], hosts=("db.example",), auth=False) as etcd:
            yield etcd
    else:
        with SecureZooKeeperServer(users=[User("alice")], hosts=("db.example",)) as zookeeper:
            yield zookeeper


def test_host_name_mismatch(misnamed_server: Any) -> None:
    started = time.monotonic()
    with pytest.raises(coordkit.TLSError) as caught:
        coordkit.connect(misnamed_server.url, timeout=TIMEOUT, **misnamed_server.credentials("alice"))
    assert time.monotonic() - started < TIMEOUT / 2 + 2.5
    assert "not valid for the name '127.0.0.1'" in str(caught.value)


def test_missing_credentials_on_etcd(tmp_path: Any) -> None:
    """TLS without client certificates, auth on, no user: etcd asks who we are."""
    with SecureEtcdServer(users=[User("alice")], client_cert_auth=False) as etcd:
        tls = coordkit.TLS(ca=etcd.credentials("alice")["tls"].ca)
        with coordkit.connect(etcd.url, tls=tls, timeout=TIMEOUT) as anonymous:
            started = time.monotonic()
            with pytest.raises(coordkit.AuthenticationError, match="etcd requires authentication"):
                anonymous.put("/app/k", "must not land")
            assert time.monotonic() - started < TIMEOUT / 2
        with coordkit.connect(etcd.url, **etcd.credentials("alice", client_cert=False)) as alice:
            assert alice.get("/app/k") is None
