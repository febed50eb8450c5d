"""The ports of the dev servers: the defaults (etcd 2379/2380, ZooKeeper 2181) where free, a port
asked for (``ports=``, or ``COORDKIT_DEV_ETCD_PORT`` / ``COORDKIT_DEV_ZOOKEEPER_PORT``; 0: any free
port), and free ones for the rest, all on the loopback address."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from coordkit.testing import free_ports

from ..errors import DevServerError

__all__ = [
    "DEFAULT_PORTS",
    "HOST",
    "PORT_ATTEMPTS",
    "PORT_ENV",
    "PortTaken",
    "pick_ports",
    "port_free",
    "requested_port",
]

DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "etcd": {"client": 2379, "peer": 2380},
    "zookeeper": {"client": 2181},
}
PORT_ENV = {"etcd": "COORDKIT_DEV_ETCD_PORT", "zookeeper": "COORDKIT_DEV_ZOOKEEPER_PORT"}
HOST = "127.0.0.1"
PORT_ATTEMPTS = 3  # starts tried when a port picked free is taken before the server binds it


class PortTaken(DevServerError):
    """The server found its port taken although it was free a moment before."""


def requested_port(kind: str, ports: Mapping[str, int] | None) -> int | None:
    if ports is not None and kind in ports:
        return ports[kind]
    raw = os.environ.get(PORT_ENV[kind], "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 65535:
        raise DevServerError(f"{PORT_ENV[kind]}={raw!r} is not a port number (0 for any free port)")
    return int(raw)


def pick_ports(kind: str, requested: int | None) -> dict[str, int]:
    """Unless a client port is asked for, the default ports where free; free ports for the rest.

    A client port asked for must be free. Asking for one also moves etcd's peer port off its
    default, so that a second dev folder's etcd (tests, a demo) never meets the first on 2380.
    """
    names = list(DEFAULT_PORTS[kind])
    spare = dict(zip(names, free_ports(len(names)), strict=True))
    if requested is None:
        return {name: port if port_free(port) else spare[name] for name, port in DEFAULT_PORTS[kind].items()}
    if requested and not port_free(requested):
        raise DevServerError(
            f"port {requested} on {HOST} is taken; ask for another {kind} port, or 0 for any free one"
        )
    return {**spare, "client": requested or spare["client"]}


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind: a port left in TIME_WAIT by a stopped server counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True
