"""kazoo client plumbing for :mod:`coordkit.backends.zookeeper.backend`: building a client, learning the
negotiated session timeout, stopping within a bound, and asking servers ``srvr`` (:func:`server_info`)."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.serialization import Connect
from kazoo.retry import KazooRetry

from ...core.security import Security
from ...errors import BackendUnavailableError
from ..base import ServerInfo
from ..reachability import explain
from .acl import kazoo_options
from .read import wait

__all__ = [
    "Negotiated",
    "describe",
    "ensure_chroot",
    "new_client",
    "server_info",
    "srvr_all",
    "stop_bounded",
]

log = logging.getLogger(__name__)


# How long one connect handshake may wait for the server's answer: a tenth of the TTL, at
# least a second (a loaded server answers well within that). kazoo waits the whole session
# timeout / number of hosts, so a socket that accepts but never answers (a paused member, a
# server still starting) would hold the next attempt back for up to the whole TTL.
_HANDSHAKE_FLOOR = 1.0
_HANDSHAKE_SHARE = 0.1


class Negotiated:
    """What the server granted in the last handshake of one client, and the bound on how long
    each handshake waits.

    kazoo keeps the negotiated session timeout in a local variable of its connection
    handler and exposes only the timeout it asked for, so this wraps the handler's
    handshake call (``_connection._invoke``, private) to read the server's answer, and to
    give the handshake (never other requests) a wait of its own: ``min(kazoo's, max(1 s,
    TTL / 10))``. It is the only private kazoo API this backend touches; if kazoo changes
    it, ``timeout`` stays None (the backend reports the TTL it asked for) and handshakes
    wait as long as kazoo lets them.
    """

    def __init__(self, client: KazooClient, ttl: float) -> None:
        self.timeout: float | None = None
        bound = max(_HANDSHAKE_FLOOR, ttl * _HANDSHAKE_SHARE)
        connection = getattr(client, "_connection", None)
        invoke = getattr(connection, "_invoke", None)
        if connection is None or invoke is None:
            return

        def recording_invoke(timeout: float, request: Any, xid: int | None = None) -> Any:
            if isinstance(request, Connect):
                timeout = min(timeout, bound)
            result = invoke(timeout, request, xid)
            if isinstance(request, Connect) and isinstance(result, tuple) and result:
                answer = result[0]
                if isinstance(answer, Connect) and answer.time_out > 0:
                    self.timeout = answer.time_out / 1000.0
            return result

        connection._invoke = recording_invoke


# kazoo's lines about each connection attempt: one per attempt, every 0.1 s to 1 s while no
# server answers. The session says once that the link dropped and once that it is back.
_PER_ATTEMPT = (
    "Connecting to ",
    "Connection dropped",
    "Connection time-out",
    "Transition to CONNECTING",
    "Cannot resolve ",
    "Closing connection to ",
    "Zookeeper connection lost",
    "Zookeeper connection established",
    "Failed connecting to Zookeeper",
)


class KazooLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """kazoo's own logger (``kazoo.client``), with its per-attempt connection lines lowered to
    DEBUG: this touches no logging configuration, only what this client's kazoo says."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("kazoo.client"), {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level > logging.DEBUG and isinstance(msg, str) and msg.startswith(_PER_ATTEMPT):
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    warn = warning  # kazoo still calls the old name in places


def new_client(hosts: str, ttl: float, security: Security | None = None) -> tuple[KazooClient, Negotiated]:
    """A kazoo client that never gives up reconnecting and hops quickly between servers,
    with ``security``'s digest identity, TLS and the ACL of the nodes it creates.

    Reconnection attempts are spaced 0.1 s to 1 s apart, forever: when to declare the session
    lost is the session manager's decision (by its own clock), not the retry policy's.
    """
    client = KazooClient(
        hosts=hosts,
        timeout=ttl,
        logger=KazooLog(),
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
        **kazoo_options(security or Security()),
    )
    return client, Negotiated(client, ttl)


def stop_bounded(client: KazooClient, bound: float) -> bool:
    """``stop()`` then ``close()`` the client, waiting at most ``bound`` seconds.

    With a server that answers, ``stop()`` sends the close-session request and the server
    deletes the session's ephemeral nodes at once. With none that answers, kazoo waits for a
    socket timeout (up to the session timeout); the stop then finishes on a daemon thread
    and the server expires the session after its TTL. Returns False in that case.
    """

    def run() -> None:
        try:
            client.stop()
        except (KazooException, OSError) as exc:  # a failed stop leaves nothing to clean up here
            log.debug("coordkit: stopping a kazoo client failed: %s", exc)
        try:
            client.close()
        except (KazooException, OSError) as exc:
            log.debug("coordkit: closing a kazoo client failed: %s", exc)

    thread = threading.Thread(target=run, name="coordkit-zk-stop", daemon=True)
    thread.start()
    thread.join(bound)
    return not thread.is_alive()


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


def ensure_chroot(
    client: KazooClient,
    endpoints: list[str],
    namespace: str,
    ttl: float,
    deadline: float,
    close_timeout: float,
    security: Security | None = None,
) -> bool:
    """Make sure the chroot of ``client`` exists; False if no server answered in time.

    A chrooted client cannot create its own root's parents, so a short-lived unchrooted
    client does it when the root is missing (the first use of a namespace). Raises kazoo's
    exceptions.
    """
    if wait(client.exists_async("/"), deadline) is not None:
        return True
    helper, _ = new_client(",".join(endpoints), ttl, security)
    try:
        if not helper.start_async().wait(max(0.0, deadline - time.monotonic())):
            return False
        wait(helper.ensure_path_async(namespace), deadline)
        return True
    finally:
        stop_bounded(helper, close_timeout)


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
