"""close() racing the session manager's reopen must not leave a lease to expire by its TTL
(issue 9). The race is forced: the new lease's grant is held right after the server granted
it until close() has returned, as a slow reply or a paused heartbeat thread would."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import coordkit
from coordkit.testing import eventually
from coordkit.testing._etcd import etcdctl_binary

TTL = 60  # far longer than the test: only a revoke, never an expiry, can end the lease


def _lease_alive(endpoint: str, lease: int) -> bool:
    binary = etcdctl_binary()
    assert binary is not None, "etcdctl is needed to look at leases"
    out = subprocess.run(
        [binary, f"--endpoints={endpoint}", "lease", "timetolive", f"{lease:x}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
        env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    ).stdout
    return "already expired" not in out


def test_close_during_a_reopen_revokes_the_lease_being_granted(etcd_server: Any) -> None:
    client = coordkit.connect(etcd_server.url, ttl=TTL, timeout=1)
    backend: Any = client.backend
    real_grant = backend._grant
    granted: list[int] = []
    held, release = threading.Event(), threading.Event()

    def slow_reply(timeout: float) -> tuple[int, float]:
        reply = real_grant(timeout)
        granted.append(reply[0])
        held.set()
        release.wait(30)  # the reply "arrives" only once close() has returned
        return reply

    backend._grant = slow_reply
    old = client.session.session_id
    client.expire_session()  # the session manager now opens a new session
    assert held.wait(10), "the session manager never asked for a new lease"
    client.close()  # gives up waiting for the heartbeat thread, which is stuck in the grant
    release.set()
    endpoint = etcd_server.endpoints[0]
    eventually(
        lambda: not (_lease_alive(endpoint, granted[0]) or _lease_alive(endpoint, old)),
        timeout=10,
        message=f"the lease {granted[0]:x} (granted during close) and {old:x} to end after close()",
    )
