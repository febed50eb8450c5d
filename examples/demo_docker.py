"""The demo's system in Compose (``examples/demo.py --docker``, ``scripts/demo.sh --docker``).

The store is the 3-member cluster of ``docker/compose.servers.yml`` (etcd, or ZooKeeper with
``--zookeeper``) and every example service is a one-off container of its service in
``docker/compose.example.yml`` (``docker-compose run``: the file's image, command, ``init`` and
environment), with ``docker/hostnet-example.yml`` on top: the host's network, loopback ports of
the demo's choosing, the locally built images (``scripts/docker-images.sh``). Each service's
``Process.popen`` is its attached ``docker-compose run --rm``: killing it is ``docker kill`` of the
container, stopping it a SIGTERM to the container's init (the services deregister and exit 0).
The stream of orders, the kills and the invariants are the local demo's. Everything runs as the
Compose project ``coordkit-demo-<id>`` (``COORDKIT_DOCKER_RUN`` when set), removed with its
volumes at the end (``down -v``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from coordkit.testing import ServerError, four_letter_word, free_ports
from coordkit.testing.docker import ContainerClient, docker_images, run_labels
from examples.demo_system import ROOT, DemoFailure, LocalSystem, Process, _with_namespace, wait_until

__all__ = ["COMPOSE_FILES", "DockerSystem"]

COMPOSE_FILES = tuple(
    ROOT / "docker" / name for name in ("hostnet-servers.yml", "compose.example.yml", "hostnet-example.yml")
)
_IMAGES = ("coordkit-etcd:3.4", "coordkit-zookeeper:3.8", "coordkit-examples:dev")
_MEMBERS = {"etcd": ("etcd1", "etcd2", "etcd3"), "zookeeper": ("zk1", "zk2", "zk3")}
_START_WAIT = 90.0


class ContainerProcess(Process):
    """A service in a container: its death is known only once ``docker kill`` returns."""

    def kill(self) -> float:
        """``docker kill`` the container; the time of death recorded is when that returned. (A
        local process dies as the signal is sent; a container some time in the daemon's round trip,
        so whatever the service did before the return may still be its own doing.)"""
        self.popen.kill()
        self.killed_at = time.time()
        self.popen.wait(10)
        return self.killed_at


def _compose_binary() -> str:
    found = os.environ.get("COORDKIT_COMPOSE") or shutil.which("docker-compose")
    if not found:
        raise DemoFailure("--docker needs docker-compose (apt-get install docker-compose)")
    return found


@dataclass
class DockerSystem(LocalSystem):
    """:class:`LocalSystem` with the store and every service in containers of one Compose project."""

    store_noun: str = "the store's containers"
    project: str = field(default_factory=lambda: f"coordkit-demo-{_run_id()}")
    ports: dict[str, str] = field(default_factory=dict)
    members_started: bool = False

    # --- the store -------------------------------------------------------------------------------
    def start_store(self, namespace: str) -> str:
        """``up -d`` the store's three members on free loopback ports and wait until all serve;
        returns the services' URL (the demo's namespace, the TTL)."""
        if self.given_url is not None:
            raise DemoFailure("--docker starts its own store in containers: leave out --url")
        try:
            docker_images(*_IMAGES)
        except ServerError as exc:
            raise DemoFailure(f"no images: {str(exc).splitlines()[0]}") from None
        self.ports = _pick_ports()
        members = _MEMBERS[self.kind]
        self.members_started = True  # before `up`: stop() must bring down whatever it started
        done = self._compose("up", "-d", "--no-deps", *members, capture=True)
        if done.returncode != 0:
            raise DemoFailure(f"docker-compose up {' '.join(members)} failed: {done.stderr.strip()[-400:]}")
        clients = self._client_ports()
        scheme = "etcd" if self.kind == "etcd" else "zk"
        base = f"{scheme}://" + ",".join(f"127.0.0.1:{port}" for port in clients)
        wait_until(
            lambda: all(_serving(self.kind, port) for port in clients),
            _START_WAIT,
            f"{self.kind} members",
            self,
        )
        self.store_label = (
            f"{self.kind}, members {', '.join(members)} of docker/hostnet-servers.yml at {base}"
        )
        self.url = _with_namespace(base, namespace, self.ttl)
        return self.url

    def _client_ports(self) -> list[str]:
        prefix = "COORDKIT_ETCD_PORT" if self.kind == "etcd" else "COORDKIT_ZK_PORT"
        return [self.ports[f"{prefix}{n}"] for n in (1, 2, 3)]

    # --- the services --------------------------------------------------------------------------
    def launch(
        self, module: str, name: str, service: str, env: Mapping[str, str], *, port: bool = False
    ) -> Process:
        """``docker-compose run`` one container of ``service`` (its definition in
        compose.example.yml) with ``env``, INSTANCE_ID ``name`` and the demo's URL added; output to
        ``<workdir>/<name>.log``. With ``port``, a free loopback port is passed as PORT."""
        picked = free_ports(1)[0] if port else None
        environ = {**env, "COORDKIT_URL": self.url, "INSTANCE_ID": name}
        if picked is not None:
            environ["PORT"] = str(picked)
        workdir = str(self.workdir)
        arguments = [
            "run",
            "--rm",
            "--no-deps",
            "-T",  # no terminal: the output goes to the log file
            f"--name={self.project}-{name}",
            "--label=coordkit.demo=1",
            *run_labels(),
            # The host's user, so that order-service's SQLite file in the work folder is writable.
            f"--user={os.getuid()}:{os.getgid()}",
            f"--volume={workdir}:{workdir}",
            *(part for key, value in environ.items() for part in ("-e", f"{key}={value}")),
            service,
        ]
        log_path = self.workdir / f"{name}.log"
        with self.interrupts.deferred(), open(log_path, "wb") as log:
            popen = ContainerClient(
                self._command(*arguments),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                start_new_session=True,
            )
            process = ContainerProcess(name, service, popen, log_path, picked)
            self.processes.append(process)  # before a signal may raise: stop() must know it
        return process

    # --- the end ---------------------------------------------------------------------------------
    def stop(self) -> dict[str, int | None]:
        """Stop every service container (SIGTERM, then docker kill), then ``down -v`` the project."""
        codes = super().stop()
        if self.members_started:
            with contextlib.suppress(Exception):
                self._compose("down", "-v", "--remove-orphans", "--timeout", "10", capture=True)
            self.members_started = False
        return codes

    def _kill_leftovers(self) -> None:
        super()._kill_leftovers()
        if self.members_started:
            with contextlib.suppress(Exception):
                self._compose("kill", capture=True)
                self._compose("down", "-v", "--remove-orphans", "--timeout", "0", capture=True)

    # --- compose ---------------------------------------------------------------------------------
    def _command(self, *arguments: str) -> list[str]:
        files = [f"--file={path}" for path in COMPOSE_FILES]
        return [_compose_binary(), f"--project-name={self.project}", *files, "--profile=cluster", *arguments]

    def _environment(self) -> dict[str, str]:
        # The ports the hostnet file reads; the demo's URL reaches the services with -e.
        return {**os.environ, **self.ports}

    def _compose(self, *arguments: str, capture: bool) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._command(*arguments),
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            capture_output=capture,
            text=True,
            timeout=180,
            check=False,
        )


def _run_id() -> str:
    run = os.environ.get("COORDKIT_DOCKER_RUN", "").lower()
    return run or uuid.uuid4().hex[:8]


def _pick_ports() -> dict[str, str]:
    names = [
        *(f"COORDKIT_ETCD_{what}{n}" for what in ("PORT", "PEER") for n in (1, 2, 3)),
        *(f"COORDKIT_ZK_{what}{n}" for what in ("PORT", "PEER", "ELECTION") for n in (1, 2, 3)),
    ]
    return dict(zip(names, map(str, free_ports(len(names))), strict=True))


def _serving(kind: str, port: str) -> bool:
    if kind == "etcd":
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{port}/health", timeout=1) as reply:
                return b'"true"' in reply.read()
        except OSError:
            return False
    try:
        return "Mode: " in four_letter_word(f"127.0.0.1:{port}", "srvr")
    except OSError:
        return False
