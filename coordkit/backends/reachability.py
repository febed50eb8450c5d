"""Why a server cannot be reached, told apart quickly: a host name that does not resolve, a
port where nothing listens, or a port where the other kind of server listens.

Both backends use this when a connection attempt has not succeeded at once, so that an
endpoint that will never answer is reported at once, with its own reason, instead of after
the whole timeout. Only side-effect-free requests are sent: ZooKeeper's ``srvr`` command
(which a ZooKeeper server answers even when four-letter words are disabled, saying so) and
an HTTP ``GET /version`` (which etcd answers). Neither opens a session.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Finding", "explain", "known_failures", "probe", "probe_all", "summary"]

# What a ZooKeeper server says to "srvr": its status, or that the command is disabled, or
# that it is not serving (no quorum). Any of these proves a ZooKeeper is listening.
_ZK_ANSWERS = (
    b"Zookeeper version",
    b"not executed because it is not in the whitelist",
    b"not currently serving requests",
)


@dataclass(frozen=True)
class Finding:
    """What one probe of an endpoint found. ``speaks`` is ``"zookeeper"``, ``"etcd"``,
    ``"other"`` (it answered, neither: ``answer`` says how) or ``""`` (unknown: no answer in
    time, or an error that may pass); ``reason`` is set when no client can use it now."""

    endpoint: str
    speaks: str = ""
    answer: str = ""  # with "other": what it did instead of answering as ZooKeeper would
    reason: str = ""


def _split(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def _exchange(address: tuple[str, int], family: int, request: bytes, deadline: float) -> bytes:
    """Send ``request``, return what comes back until the server closes (at most 4 KiB).
    Raises OSError, TimeoutError (socket.timeout) when the deadline passes first."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.connect(address)
        sock.sendall(request)
        answer = b""
        while len(answer) < 4096:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def probe(endpoint: str, timeout: float) -> Finding:
    """Resolve, connect and ask ``endpoint`` who it is, within ``timeout`` seconds (bar a slow
    resolver, which the caller bounds). Never raises for a network failure. A name with
    several addresses (``localhost``: ::1 and 127.0.0.1) is what its best address is, as a
    client tries each: one refusing does not make a server listening on another dead."""
    deadline = time.monotonic() + timeout
    try:
        host, port = _split(endpoint)
        if not 0 < port < 65536:
            return Finding(endpoint, reason=f"port {port} is out of range (1-65535)")
        resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except ValueError:
        return Finding(endpoint, reason="not host:port")
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return Finding(endpoint, reason=f"host name {host!r} does not resolve")
        return Finding(endpoint)  # a resolver that is down now may be up in a moment
    addresses = dict.fromkeys(
        (family, (str(address[0]), int(address[1]))) for family, _, _, _, address in resolved
    )
    found = [_probe_address(endpoint, port, family, address, deadline) for family, address in addresses]
    return min(found, key=_hope)


def _hope(finding: Finding) -> int:
    """How likely a client gets through where ``finding`` was made, best first: a server
    that answered, one that may answer, another kind of server, nothing listening."""
    if finding.speaks in ("zookeeper", "etcd"):
        return 0
    if not finding.speaks and not finding.reason:
        return 1
    return 2 if finding.speaks == "other" else 3


def _probe_address(
    endpoint: str, port: int, family: int, address: tuple[str, int], deadline: float
) -> Finding:
    """:func:`probe` of one of the endpoint's addresses."""
    try:
        # The blank line makes etcd's protocol sniffer give up (close) rather than wait for
        # more bytes; ZooKeeper reads only the first four.
        answer = _exchange(address, family, b"srvr\r\n\r\n", deadline)
        if any(text in answer for text in _ZK_ANSWERS):
            return Finding(endpoint, "zookeeper")
        http = _exchange(address, family, b"GET /version HTTP/1.0\r\n\r\n", deadline)
    except ConnectionRefusedError:
        return Finding(endpoint, reason=f"connection refused: nothing listens on port {port}")
    except OSError:  # includes timeouts: a paused or slow server, keep waiting for it
        return Finding(endpoint)
    if b"etcdserver" in http:
        return Finding(endpoint, "etcd")
    if http.startswith(b"HTTP/"):
        return Finding(endpoint, "other", "it speaks HTTP, not the ZooKeeper protocol")
    return Finding(
        endpoint,
        "other",
        "it closed the connection without a ZooKeeper answer (not a ZooKeeper "
        "server, or one refusing more connections from this host: maxClientCnxns)",
    )


def probe_all(endpoints: Sequence[str], timeout: float) -> dict[str, Finding]:
    """:func:`probe` of every endpoint in parallel, within about ``timeout`` seconds; an
    endpoint whose resolver is still busy then gets an empty (unknown) Finding."""
    found: dict[str, Finding] = {}

    def one(endpoint: str) -> None:
        found[endpoint] = probe(endpoint, timeout)

    threads = [threading.Thread(target=one, args=(e,), name="coordkit-probe", daemon=True) for e in endpoints]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {endpoint: found.get(endpoint, Finding(endpoint)) for endpoint in endpoints}


def known_failures(endpoints: Sequence[str], kind: str, timeout: float) -> dict[str, str] | None:
    """Why each endpoint cannot serve a ``kind`` ("zookeeper" or "etcd") client, if every one
    of them fails for a known reason; None as soon as one might still answer (a live server,
    a paused one, an unknown error). Probes in parallel, within about ``timeout`` seconds."""
    reasons = {}
    for endpoint, finding in probe_all(endpoints, timeout).items():
        reason = finding.reason or _wrong_kind(finding, kind)
        if not reason:
            return None
        reasons[endpoint] = reason
    return reasons


def explain(unreachable: dict[str, str], kind: str, timeout: float) -> dict[str, str]:
    """``unreachable`` (endpoint -> the client library's error) with each error replaced by
    the probe's short reason where the probe knows one."""
    found = probe_all(list(unreachable), timeout)
    return {e: found[e].reason or _wrong_kind(found[e], kind) or why for e, why in unreachable.items()}


def _wrong_kind(finding: Finding, kind: str) -> str:
    if not finding.speaks or finding.speaks == kind:
        return ""
    if finding.speaks == "other":
        # Every ZooKeeper answers srvr, so "other" rules ZooKeeper out; an etcd behind TLS
        # or a proxy may not answer our plain GET, so it rules nothing out for etcd.
        return finding.answer if kind == "zookeeper" else ""
    wanted = "ZooKeeper" if kind == "zookeeper" else "etcd"
    scheme, name = ("zk", "ZooKeeper") if finding.speaks == "zookeeper" else ("etcd", "etcd")
    article = "a" if name == "ZooKeeper" else "an"
    return f"that is {article} {name} server, not {wanted} (use {scheme}://{finding.endpoint})"


def summary(backend: str, reasons: dict[str, str]) -> str:
    """One line naming each endpoint with its reason."""
    return f"cannot connect to {backend}: " + "; ".join(f"{e}: {r}" for e, r in reasons.items())
