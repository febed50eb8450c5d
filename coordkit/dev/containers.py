"""Dev servers in Docker containers (``coordkit dev up --docker``): which harness class runs them,
whether a record is one, and how to kill its container.

A containerised dev server is recorded like a local one, its pid being the attached ``docker run
--rm`` client that ``up`` detached: SIGTERM to that client reaches the container (the CLI proxies
signals), whose exit ends the client. SIGKILL cannot be proxied, so killing one is ``docker kill``
of the container, by the name in the recorded command line. The container uses the host's network
and the ports recorded, and its folder in the dev folder is bind-mounted at the same path.
"""

from __future__ import annotations

import contextlib
import subprocess

from coordkit.testing import ServerError, ServerProcess
from coordkit.testing.docker import (
    ETCD_IMAGE,
    ZOOKEEPER_IMAGE,
    DockerEtcdServer,
    DockerZooKeeperServer,
    docker_images,
)

__all__ = ["container_of", "docker_harness", "kill_container", "not_available"]

_IMAGES = {"etcd": ETCD_IMAGE, "zookeeper": ZOOKEEPER_IMAGE}


def not_available(kind: str) -> str | None:
    """Why ``kind`` cannot run in a container here (no daemon, no image and no way to build it),
    or None; building a missing image takes minutes the first time."""
    try:
        docker_images(_IMAGES[kind])
    except ServerError as exc:
        return str(exc)
    return None


def docker_harness(kind: str) -> ServerProcess:
    """The harness object whose config, command line and health check a containerised dev server uses."""
    return DockerEtcdServer(keep_data=True) if kind == "etcd" else DockerZooKeeperServer(keep_data=True)


def container_of(command: tuple[str, ...]) -> str | None:
    """The container a dev server recorded with ``command`` runs in (its ``--name``), or None for a
    local process. (Commands rather than records: the records module calls this.)"""
    if command[1:2] != ("run",):
        return None
    return next((arg.partition("=")[2] for arg in command if arg.startswith("--name=")), None)


def kill_container(command: tuple[str, ...]) -> None:
    """``docker kill`` the container of the server recorded with ``command``, if it has one; a
    container already gone is no error."""
    name = container_of(command)
    if name is None:
        return
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run([command[0], "kill", name], capture_output=True, timeout=30, check=False)
