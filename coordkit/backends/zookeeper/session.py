"""kazoo client plumbing for :mod:`coordkit.backends.zookeeper.backend`: building a client, learning the
negotiated session timeout, stopping within a bound, creating the chroot. What ``coordkit status``
asks the servers (``srvr``) is in :mod:`.status`."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.serialization import Connect
from kazoo.retry import KazooRetry

from ...core.security import Security
from .acl import kazoo_options
from .read import wait

__all__ = ["Negotiated", "ensure_chroot", "new_client", "stop_bounded"]

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
