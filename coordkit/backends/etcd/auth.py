"""One gRPC channel to one etcd endpoint, with TLS and an auth token that is renewed.

python-etcd3 authenticates once, in its client's constructor, and keeps that token for
good (its lock then fails at release once the token expires: python-etcd3 issue #2301).
etcd's simple tokens expire after ``--auth-token-ttl`` (300 s by default) and all of them
are forgotten when a server restarts. So this channel authenticates when first used and
again whenever etcd answers "invalid auth token": the call that met the stale token is
repeated once with a fresh one, which is safe for writes too, because etcd refuses a
request with a stale token before applying anything.

Certificates and keys are read from their files when the channel is made; the password is
sent only in the Authenticate request and appears in no message.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any

import grpc

from ...core.security import Security
from ...errors import ConfigurationError

__all__ = ["EtcdChannel", "is_stale_reason", "is_stale_token"]

# etcd's answers to a token it no longer knows (simple token expired, server restarted) and
# to a token minted before the last change of users or roles (ErrAuthOldRevision).
_STALE = (
    (grpc.StatusCode.UNAUTHENTICATED, "invalid auth token"),
    (grpc.StatusCode.FAILED_PRECONDITION, "revision of auth store is old"),
    # a request sent without a token (auth was off) once authentication is on again
    (grpc.StatusCode.INVALID_ARGUMENT, "user name is empty"),
)

# How long a refused user/password is believed before etcd is asked again (a password file
# fixed, or the old password restored, is noticed within this).
_REFUSAL_HOLD = 5.0


def is_stale_token(exc: BaseException) -> bool:
    """Whether ``exc`` says the request's token must be renewed (not that it is refused)."""
    if not isinstance(exc, grpc.RpcError):
        return False
    code, details = exc.code(), exc.details() or ""
    return any(code is c and text in details for c, text in _STALE)


def is_stale_reason(reason: str) -> bool:
    """Whether a watch cancelled with ``reason`` was refused for its token (etcd cancels a
    watch created with a stale token instead of failing the stream)."""
    return any(text in reason for _, text in _STALE)


def _system_roots() -> bytes | None:
    """The system's CA bundle, as the ZooKeeper backend and the TLS probe trust it (OpenSSL's
    default file, or the one $SSL_CERT_FILE names): without it gRPC trusts only the roots it
    ships, not a company CA installed on the machine. None (gRPC's choice) when there is no
    such file, or when $GRPC_DEFAULT_SSL_ROOTS_FILE_PATH names gRPC's and $SSL_CERT_FILE is unset."""
    paths = ssl.get_default_verify_paths()
    grpc_roots = os.environ.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
    if grpc_roots and os.environ.get(paths.openssl_cafile_env) is None:
        return None
    for path in (paths.cafile, paths.openssl_cafile):
        if path and os.path.isfile(path):
            return _read("system CA", path)
    return None


def _read(what: str, path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} file {path!r}: {exc.strerror}") from None


class EtcdChannel:
    """What ``conn.Stubs`` needs of a client: the stubs, the token metadata, close().

    ``metadata`` authenticates on first use (raising the server's gRPC error, which the
    connection translates) and returns the current token; ``forget()`` drops a token
    etcd called stale, so that the next ``metadata`` fetches a new one.
    """

    call_credentials = None  # the token travels as metadata, over TLS or not

    def __init__(
        self,
        etcdrpc: Any,
        host: str,
        port: int,
        *,
        timeout: float,
        security: Security,
        options: Sequence[tuple[str, Any]],
    ) -> None:
        target = f"{host}:{port}"
        tls = security.tls
        if tls is None:
            self.channel = grpc.insecure_channel(target, options=list(options))
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read("ca", tls.ca) if tls.ca else _system_roots(),
                private_key=_read("key", tls.key) if tls.key else None,
                certificate_chain=_read("cert", tls.cert) if tls.cert else None,
            )
            self.channel = grpc.secure_channel(target, credentials, options=list(options))
        self.kvstub = etcdrpc.KVStub(self.channel)
        self.leasestub = etcdrpc.LeaseStub(self.channel)
        self.clusterstub = etcdrpc.ClusterStub(self.channel)
        self.maintenancestub = etcdrpc.MaintenanceStub(self.channel)
        self._authstub = etcdrpc.AuthStub(self.channel)
        self._request = etcdrpc.AuthenticateRequest
        self._security = security
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        # How many tokens this channel was given: a caller that met a stale token names the
        # one it started with, so that many calls meeting the same expiry renew it once.
        self.authentications = 0
        self.attempts = 0  # Authenticate requests sent, refused ones included
        self._refused: grpc.RpcError | None = None
        self._refused_until = 0.0

    def __repr__(self) -> str:
        return f"<EtcdChannel user={self._security.user!r} tls={self._security.tls is not None}>"

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """``(("token", T),)`` with a valid-as-far-as-we-know token, or ``()`` without a user."""
        token = self.token()
        return (("token", token),) if token else ()

    def token(self) -> str | None:
        """The current token ("" while etcd has authentication off), authenticating first if
        there is none; raises grpc.RpcError (a refused password: the same error for 5 s)."""
        if self._security.user is None:
            return None
        with self._lock:
            if self._token is None:
                self._token = self._authenticate()
            return self._token

    def _authenticate(self) -> str:
        """A new token. A refusal of the user or password is kept for _REFUSAL_HOLD seconds and
        raised again without asking etcd: after a server-side password change every heartbeat
        and call would otherwise send a doomed Authenticate (a bcrypt check on the server) for
        ever, about 2.5 per second per client."""
        if self._refused is not None and time.monotonic() < self._refused_until:
            raise self._refused.with_traceback(None)
        request = self._request(name=self._security.user, password=self._security.password or "")
        self.attempts += 1
        try:
            token: str = self._authstub.Authenticate(request, timeout=self._timeout).token
        except grpc.RpcError as exc:
            if exc.code() is grpc.StatusCode.FAILED_PRECONDITION and "not enabled" in (exc.details() or ""):
                # Authentication turned off (etcdctl auth disable): carry on without a token,
                # as etcd's own client does; a refusal once it is back on renews the token.
                self.authentications += 1
                return ""
            refused = exc.code() is grpc.StatusCode.INVALID_ARGUMENT
            if refused and "authentication failed" in (exc.details() or ""):
                self._refused, self._refused_until = exc, time.monotonic() + _REFUSAL_HOLD
            raise
        self._refused = None
        self.authentications += 1
        return token

    def forget(self, generation: int) -> None:
        """Drop the token etcd said is stale, if it is still the one of ``generation`` (the
        ``authentications`` count read before the refused call); a token another thread got
        since is kept, so N calls refused at one expiry cause one Authenticate, not N."""
        with self._lock:
            if self.authentications == generation:
                self._token = None

    def close(self) -> None:
        self.channel.close()
