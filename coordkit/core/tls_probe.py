"""Why did a connection fail? One TLS handshake with the standard library says.

gRPC reports every failed handshake as "failed to connect to all addresses" and kazoo
retries them silently, so after a first session could not be opened the backends ask
:func:`diagnose` for the reason, which it learns from Python's own ``ssl`` module: an
untrusted or mismatched server certificate, a client certificate the server wants or
refuses, or TLS on one side only. It returns None when TLS is not the problem (the port is
closed, the server is slow), and the backend keeps its own message then.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Sequence

from .security import TLS, Security

__all__ = ["diagnose", "diagnose_tls"]

# An HTTP/2 client preface and an empty SETTINGS frame: an etcd (gRPC) server answers at once
# with its own SETTINGS, which proves the handshake, client certificate included, went through.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# Per protocol (the ``scheme`` a backend passes): the first bytes it sends after a handshake,
# and how its users turn TLS on. Anything else speaks ZooKeeper's framing.
_FIRST_BYTES = {"etcd": _H2_PREFACE}
_TLS_FIX = {"etcd": "etcds:// (or tls=True)"}


def _expiry(cert: str) -> float | None:
    """When ``cert`` (PEM) stops being valid, in seconds since the epoch; None if unknown."""
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)  # stdlib, no public twin
    try:
        return ssl.cert_time_to_seconds(decode(cert)["notAfter"]) if decode else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _context(tls: TLS | None) -> ssl.SSLContext:
    if tls is None:  # only to learn whether the server speaks TLS at all
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=tls.ca)
        if tls.cert and tls.key:
            context.load_cert_chain(tls.cert, tls.key)
    context.set_alpn_protocols(["h2"])
    return context


def _refused_client_cert(endpoint: str, tls: TLS, alert: str) -> str:
    if "CERTIFICATE_REQUIRED" in alert or not tls.cert:
        return f"{endpoint} requires a client certificate: pass cert= and key= (--cert, --key)"
    expires = _expiry(tls.cert)
    if "EXPIRED" in alert or (expires is not None and expires < time.time()):
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires)) if expires else "already"
        return f"the client certificate {tls.cert} expired ({when}): renew it"
    return (
        f"{endpoint} refused the client certificate {tls.cert} ({alert.lower()}): it must be "
        "signed by a CA the server trusts"
    )


def _verify_failure(endpoint: str, host: str, tls: TLS, exc: ssl.SSLCertVerificationError) -> str:
    reason = exc.verify_message or str(exc)
    if "mismatch" in reason.lower():
        return (
            f"the certificate of {endpoint} is not valid for the name {host!r}: connect by a "
            "name the certificate lists"
        )
    if "expired" in reason.lower():
        return f"the certificate of {endpoint} has expired: the server needs a new one"
    where = f"the CA bundle {tls.ca}" if tls.ca else "the system's CA store"
    return (
        f"the certificate of {endpoint} is not trusted by {where} ({reason}): pass ca= with "
        "the CA that signed it (--ca, COORDKIT_CA)"
    )


def _speaks_tls(endpoint: str, scheme: str) -> str:
    fix = _TLS_FIX.get(scheme, "tls=True (or ?tls=true)")
    return f"{endpoint} speaks TLS: use {fix} with ca= naming the CA that signed its certificate"


def _ssl_failure(
    endpoint: str, host: str, tls: TLS | None, exc: ssl.SSLError, scheme: str, *, handshake_done: bool
) -> str | None:
    """What ``exc`` proves. Only positive evidence says "speaks TLS": an alert from the server,
    or a handshake that went through. A connection closed or garbled before the handshake ended
    (how a plaintext server treats a ClientHello; Python builds word it differently: "unexpected
    eof", "TLS/SSL connection has been closed (EOF)", "wrong version number") proves the contrary."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _verify_failure(endpoint, host, tls, exc) if tls else None
    text = f"{exc.reason or ''} {exc}"
    alert = "ALERT" in text.upper()
    if not alert and not handshake_done:
        if tls is None:
            return None  # a plaintext client found a plaintext server: TLS is not the problem
        return f"{endpoint} does not speak TLS: drop tls, ca, cert and key (or use its TLS port)"
    if tls is None:
        return _speaks_tls(endpoint, scheme)
    return _refused_client_cert(endpoint, tls, str(exc.reason or exc).upper())


def diagnose(endpoint: str, tls: TLS | None, timeout: float, *, scheme: str) -> str | None:
    """The TLS reason a client configured with ``tls`` (None: plaintext) cannot talk to
    ``endpoint``, or None when TLS is not the problem. Waits at most about 2 x ``timeout``."""
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]")
    try:
        raw = socket.create_connection((host, int(port)), timeout=timeout)
    except (OSError, ValueError):
        return None  # refused, unreachable, unresolvable: not a TLS question
    handshake_done = False
    try:
        with _context(tls).wrap_socket(raw, server_hostname=host) as sock:
            handshake_done = True
            sock.settimeout(timeout)
            # TLS 1.3 servers refuse a client certificate after the handshake: send something
            # and read the answer (an HTTP/2 preface for etcd, a ZooKeeper-length frame else).
            sock.sendall(_FIRST_BYTES.get(scheme, b"\x00\x00\x00\x00"))
            sock.recv(1)
    except ssl.SSLError as exc:
        return _ssl_failure(endpoint, host, tls, exc, scheme, handshake_done=handshake_done)
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        # A plaintext server drops a ClientHello it cannot parse, sometimes with a reset.
        if tls is not None and not handshake_done:
            return f"{endpoint} does not speak TLS: drop tls, ca, cert and key (or use its TLS port)"
    except (OSError, ValueError):
        pass  # a timeout: nothing learned
    finally:
        raw.close()
    return _speaks_tls(endpoint, scheme) if tls is None and handshake_done else None


def diagnose_tls(
    endpoints: Sequence[str], security: Security, timeout: float, *, scheme: str = "zookeeper"
) -> str | None:
    """The first TLS reason found on ``endpoints`` (one probe of at most ~2 s each), or None."""
    probe_timeout = max(0.2, min(2.0, timeout / 2))
    for endpoint in endpoints:
        reason = diagnose(endpoint, security.tls, probe_timeout, scheme=scheme)
        if reason:
            return reason
    return None
