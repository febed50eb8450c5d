"""TLS without ca=: the system's CA store checks the server, the same on both backends."""

from __future__ import annotations

from typing import Any

import pytest

import coordkit


def test_without_ca_the_system_store_decides(
    secure_server: Any, secure_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gRPC trusted only the roots it ships, not OpenSSL's store: an etcd signed by a CA
    # installed on the machine failed its handshake, while ZooKeeper and the probe trusted it.
    options = {"ttl": 4, **secure_server.credentials("alice")}
    tls = options["tls"]
    monkeypatch.setenv("SSL_CERT_FILE", tls.ca)  # OpenSSL's system bundle, as Python reads it
    monkeypatch.delenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", raising=False)
    monkeypatch.delenv("COORDKIT_CA", raising=False)
    options["tls"] = coordkit.TLS(cert=tls.cert, key=tls.key)
    with coordkit.connect(secure_url, connect_timeout=10, **options) as client:
        client.put("/trusted", "1")
        entry = client.get("/trusted")
        assert entry is not None and entry.value == b"1"
