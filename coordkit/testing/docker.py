"""ZooKeeper and etcd in Docker containers, with the same interface as the local servers.

``DockerEtcdServer``, ``DockerZooKeeperServer``, ``DockerEtcdCluster`` and
``DockerZooKeeperEnsemble`` are the classes of ``coordkit.testing.servers`` with the server
process moved into a container of the images that ``scripts/docker-images.sh`` builds
(``coordkit-etcd:3.4``, ``coordkit-zookeeper:3.8``)::

    with DockerEtcdCluster(3) as cluster:
        leader = cluster.wait_for_leader()
        leader.pause()        # docker pause: a frozen member, its sockets open
        leader.resume()       # docker unpause
        leader.kill()         # docker kill; start() runs a new container on the same data
        leader.restart()      # docker stop, then a new container on the same data and ports

Each container uses the host's network (``--network host``: no bridge, no private-range
address) and binds loopback ports only, picked as for local servers; its scratch folder is
bind-mounted at the same path, so configuration and data stay where the harness looks for them,
across kills and restarts. The harness keeps ``docker run`` attached (its output is the server
log) and routes the signals it sends to the container: SIGSTOP and SIGCONT become ``docker
pause``/``unpause``, others ``docker kill --signal``. Containers are started with ``--rm`` and
removed when they exit; the client's exit means the container is gone. Every container carries
the label ``coordkit.testing=1`` (and ``coordkit.run=ID`` when ``COORDKIT_DOCKER_RUN`` is set), so
that whatever a SIGKILLed test run leaves behind can be found and removed (``scripts/test-docker.sh``
does). The Docker CLI is ``COORDKIT_DOCKER`` or ``docker``
on PATH, and it talks to the daemon ``DOCKER_HOST`` names.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from coordkit.testing._etcd import EtcdCluster, EtcdServer
from coordkit.testing._process import ServerError, ServerProcess
from coordkit.testing._zookeeper import _JARS, ZooKeeperEnsemble, ZooKeeperServer

__all__ = [
    "ETCD_IMAGE",
    "LABEL",
    "ZOOKEEPER_IMAGE",
    "ContainerClient",
    "DockerEtcdCluster",
    "DockerEtcdServer",
    "DockerZooKeeperEnsemble",
    "DockerZooKeeperServer",
    "docker_binary",
    "docker_images",
    "run_labels",
]

ETCD_IMAGE = os.environ.get("COORDKIT_ETCD_IMAGE", "coordkit-etcd:3.4")
ZOOKEEPER_IMAGE = os.environ.get("COORDKIT_ZOOKEEPER_IMAGE", "coordkit-zookeeper:3.8")
LABEL = "coordkit.testing"
_CLI_TIMEOUT = 60.0
_IMAGES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "docker-images.sh"
_ADVICE = "scripts/test-docker.sh installs docker.io and starts a daemon; or set DOCKER_HOST"


def docker_binary() -> str:
    """The Docker CLI: ``COORDKIT_DOCKER``, else ``docker`` on PATH; raises ``ServerError``."""
    chosen = os.environ.get("COORDKIT_DOCKER") or shutil.which("docker")
    if not chosen:
        raise ServerError(f"no docker CLI found: {_ADVICE}")
    return chosen


def _docker(*args: str, timeout: float = _CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run one docker command and return it finished; raises ``ServerError`` if it cannot run."""
    try:
        return subprocess.run(
            [docker_binary(), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerError(f"docker {' '.join(args)}: {exc}") from exc


@functools.cache
def docker_images(*images: str) -> None:
    """Make sure the daemon answers and ``images`` exist, building them if the source tree's
    ``scripts/docker-images.sh`` is there (a first build takes minutes, later checks a moment).

    Raises ``ServerError`` saying what is missing; nothing is left running either way.
    """
    info = _docker("version", "--format", "{{.Server.Version}}", timeout=20)
    if info.returncode != 0:
        raise ServerError(f"no Docker daemon answers: {info.stderr.strip()}; {_ADVICE}")
    missing = [image for image in images if _docker("image", "inspect", image).returncode != 0]
    if not missing:
        return
    if not _IMAGES_SCRIPT.is_file():
        raise ServerError(f"images {missing} are missing; build them with scripts/docker-images.sh")
    built = subprocess.run(
        ["bash", str(_IMAGES_SCRIPT)], capture_output=True, text=True, timeout=1800, check=False
    )
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).splitlines()[-30:])
        raise ServerError(f"scripts/docker-images.sh failed ({built.returncode}):\n{tail}")


def run_labels() -> list[str]:
    """``--label=coordkit.run=ID`` when ``COORDKIT_DOCKER_RUN`` names the run (the test script
    sets it, to remove exactly its own containers however the run ended), else nothing."""
    run = os.environ.get("COORDKIT_DOCKER_RUN", "")
    return [f"--label=coordkit.run={run}"] if run else []


class ContainerClient(subprocess.Popen[bytes]):
    """An attached ``docker run --rm --name=NAME ...``: ``poll()`` and ``wait()`` are the client's,
    which exits once the container is gone (with the container's exit code); signals are sent to
    the container instead, so ``kill()`` is ``docker kill`` and ``terminate()`` a SIGTERM to
    the container's init. The argument vector must hold ``--name=NAME``."""

    def __init__(self, args: Sequence[str], **options: Any) -> None:
        self.container = next(arg.partition("=")[2] for arg in args if arg.startswith("--name="))
        super().__init__(args, **options)

    def send_signal(self, sig: int) -> None:
        """Signal the container; nothing when it is gone (as Popen does for an exited process).
        SIGSTOP and SIGCONT freeze and thaw the container's whole cgroup (``docker pause``)."""
        if self.poll() is not None:
            return
        if sig == signal.SIGSTOP:
            verb = ["pause", self.container]
        elif sig == signal.SIGCONT:
            verb = ["unpause", self.container]
        else:
            verb = ["kill", f"--signal={signal.Signals(sig).name}", self.container]
        done = _docker(*verb)
        # A container exiting meanwhile is no failure; anything else is.
        if done.returncode != 0 and self.poll() is None and _container_running(self.container):
            raise ServerError(f"docker {' '.join(verb)} failed: {done.stderr.strip()}")


def _container_running(name: str) -> bool:
    state = _docker("inspect", "--format", "{{.State.Running}}", name)
    return state.returncode == 0 and state.stdout.strip() == "true"


class _InContainer(ServerProcess):
    """What the docker servers share: the ``docker run`` prefix and container-level pause."""

    image: ClassVar[str]
    _popen = ContainerClient

    def _name_container(self) -> None:
        docker_images(self.image)
        self.container = f"coordkit-{self.kind}-{uuid.uuid4().hex[:10]}"

    def _in_container(self, command: list[str]) -> list[str]:
        root = str(self.root_dir)
        return [
            docker_binary(),
            "run",
            "--rm",
            f"--name={self.container}",
            f"--label={LABEL}=1",
            f"--label={LABEL}.owner={os.getpid()}",
            *run_labels(),
            "--network=host",
            # The files it writes stay removable by whoever runs the tests.
            f"--user={os.getuid()}:{os.getgid()}",
            "--init",
            f"--volume={root}:{root}",
            f"--workdir={root}",
            "--env=HOME=/tmp",
            self.image,
            *command,
        ]

    def pause(self) -> None:
        """``docker pause``: returns once the freezer holds every process of the container."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} container={self.container}>"


class DockerEtcdServer(_InContainer, EtcdServer):
    """``EtcdServer`` in a container of ``ETCD_IMAGE``; see the module docstring."""

    image = ETCD_IMAGE

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._name_container()

    @staticmethod
    def _find_binary(binary: str | None) -> str:
        return binary or "etcd"  # on the image's PATH

    @property
    def version(self) -> str:
        """The etcd version inside the image, such as ``3.4.23``."""
        return _image_etcd_version(self.image)

    def _command(self) -> list[str]:
        return self._in_container(EtcdServer._command(self))


class DockerZooKeeperServer(_InContainer, ZooKeeperServer):
    """``ZooKeeperServer`` in a container of ``ZOOKEEPER_IMAGE``; see the module docstring."""

    image = ZOOKEEPER_IMAGE

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._name_container()

    def _runtime(self) -> tuple[str, str]:
        # Debian's zookeeper package inside the image puts the jars where it does on the host.
        return "java", os.pathsep.join(f"/usr/share/java/{jar}.jar" for jar in _JARS)

    def _command(self) -> list[str]:
        return self._in_container(ZooKeeperServer._command(self))


class DockerEtcdCluster(EtcdCluster):
    """``EtcdCluster`` of ``DockerEtcdServer`` members, one container each."""

    _member_type = DockerEtcdServer

    @property
    def version(self) -> str:
        """The etcd version inside the image."""
        return _image_etcd_version(ETCD_IMAGE)


class DockerZooKeeperEnsemble(ZooKeeperEnsemble):
    """``ZooKeeperEnsemble`` of ``DockerZooKeeperServer`` members, one container each."""

    _member_type = DockerZooKeeperServer


@functools.cache
def _image_etcd_version(image: str) -> str:
    done = _docker("run", "--rm", "--network=host", image, "etcd", "--version")
    for line in done.stdout.splitlines():
        if line.startswith("etcd Version:"):
            return line.partition(":")[2].strip()
    raise ServerError(f"{image}: etcd --version printed no version: {done.stdout!r} {done.stderr!r}")
