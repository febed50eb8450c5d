"""What ``coordkit status`` shows of a ZooKeeper ensemble: each server's ``srvr`` four-letter
command, asked in parallel (:func:`server_info`). Imported by that call only: a read never
needs it."""

from __future__ import annotations

import contextlib
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ...core.security import Security
from ...errors import BackendUnavailableError
from ..reachability import explain
from ..server_info import ServerInfo

__all__ = ["describe", "server_info", "srvr", "srvr_all"]


def _tls_context(security: Security | None) -> ssl.SSLContext | None:
    """The context to ask a ``secureClientPort`` with (four-letter words work over TLS too)."""
    tls = security.tls if security is not None else None
    if tls is None:
        return None
    context = ssl.create_default_context(cafile=tls.ca)
    if tls.cert and tls.key:
        context.load_cert_chain(tls.cert, tls.key)
    return context


def srvr(endpoint: str, timeout: float, security: Security | None = None) -> dict[str, str]:
    """The ``srvr`` four-letter command's ``Key: value`` lines from one server (raises OSError)."""
    host, _, port = endpoint.rpartition(":")
    context = _tls_context(security)
    plain = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    with context.wrap_socket(plain, server_hostname=host.strip("[]")) if context else plain as sock:
        sock.sendall(b"srvr")
        chunks: list[bytes] = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", "replace")
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if not fields:
        fields["error"] = text.strip() or "empty answer"
    return fields


def srvr_all(
    endpoints: list[str], timeout: float, security: Security | None = None
) -> dict[str, dict[str, str] | str]:
    """``srvr`` from every endpoint in parallel: its fields, or the error as a string."""

    def one(endpoint: str) -> dict[str, str] | str:
        try:
            return srvr(endpoint, timeout, security)
        except (OSError, ValueError) as exc:
            return f"unreachable: {exc or type(exc).__name__}"

    with ThreadPoolExecutor(max_workers=max(1, len(endpoints))) as pool:
        return dict(zip(endpoints, pool.map(one, endpoints), strict=True))


# Modes of a member that serves clients; any other answer means it does not now.
_SERVING = ("leader", "follower", "observer", "standalone", "read-only")


@dataclass
class _Ensemble:
    """What ``srvr`` told of each endpoint (see :func:`describe`)."""

    version: str = ""
    leader: str = ""
    details: dict[str, str | int] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    zxids: dict[str, int] = field(default_factory=dict)


def describe(endpoints: list[str], timeout: float, security: Security | None = None) -> _Ensemble:
    """An ensemble from ``srvr``: the leader is the member whose mode is leader or standalone;
    details say each serving member's mode, zxid and node count (versions and zxids each
    one's release and zxid, parsed); unreachable says why each other endpoint does not serve."""
    found = _Ensemble()
    details, unreachable = found.details, found.unreachable
    for endpoint, answer in srvr_all(endpoints, timeout, security).items():
        if isinstance(answer, str):
            unreachable[endpoint] = answer
            continue
        mode = answer.get("Mode", "")
        if "whitelist" in answer.get("error", ""):
            details[endpoint] = "answers, mode unknown: srvr is not in its 4lw.commands.whitelist"
            continue
        if mode not in _SERVING:
            unreachable[endpoint] = answer.get("error", "not serving")
            continue
        details[endpoint] = f"{mode}, zxid {answer.get('Zxid', '?')}, {answer.get('Node count', '?')} nodes"
        # "3.8.0-5a02a05e..., built on ...": the release is what people compare
        release = answer.get("Zookeeper version", "").split(",")[0].split("-")[0]
        found.versions[endpoint] = release
        found.version = found.version or release
        with contextlib.suppress(ValueError):  # "0x1a2b"; a server that says otherwise has no lag to tell
            found.zxids[endpoint] = int(answer.get("Zxid", ""), 16)
        if mode in ("leader", "standalone") and not found.leader:
            found.leader = endpoint
    return found


def server_info(
    endpoints: list[str], timeout: float, security: Security, *, session: str, namespace: str
) -> ServerInfo:
    """Each endpoint's ``srvr``, in parallel: the serving ones are the members, the others
    ``unreachable`` with the reason. Raises BackendUnavailableError when none serves."""
    found = describe(endpoints, timeout, security)
    details = found.details
    unreachable = explain(found.unreachable, "zookeeper", min(1.0, timeout / 4))
    if not details:
        raise BackendUnavailableError(
            "server status: no ZooKeeper endpoint answered: "
            + "; ".join(f"{e}: {why}" for e, why in unreachable.items())
        )
    members = tuple(e for e in endpoints if e in details)
    if session:
        details["session"] = session
    if namespace:
        details["namespace"] = namespace
    return ServerInfo(
        kind="zookeeper",
        endpoints=tuple(endpoints),
        version=found.version,
        members=members,
        leader=found.leader,
        details=details,
        unreachable=unreachable,
        versions=found.versions,
        positions=found.zxids,
    )
