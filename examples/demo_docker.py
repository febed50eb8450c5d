"""The demo's system in containers (``examples/demo.py --docker``, ``scripts/demo.sh --docker``).

The store is a 3-member cluster of containers (``coordkit.testing.docker``: etcd, or ZooKeeper
with ``--zookeeper``), and each example service runs in a container of ``coordkit-examples:dev``
(built by ``scripts/docker-images.sh``), on the host's network with loopback ports, as
``python -m MODULE`` behind ``--init``. A service's ``Process.popen`` is the attached ``docker
run``: killing it is ``docker kill`` of the container, stopping it a SIGTERM to the container
(the services deregister and exit 0). The stream of orders, the kills and the invariants are
the local demo's. Every container carries the label ``coordkit.demo=1``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from coordkit.testing import EtcdCluster, ServerError, ZooKeeperEnsemble, free_ports
from coordkit.testing.docker import (
    ContainerClient,
    DockerEtcdCluster,
    DockerZooKeeperEnsemble,
    docker_binary,
    docker_images,
    run_labels,
)
from examples.demo_system import DemoFailure, LocalSystem, Process, _with_namespace

__all__ = ["EXAMPLES_IMAGE", "DockerSystem"]

EXAMPLES_IMAGE = os.environ.get("COORDKIT_EXAMPLES_IMAGE", "coordkit-examples:dev")


@dataclass
class DockerSystem(LocalSystem):
    """:class:`LocalSystem` with the store and every service in containers."""

    cluster: EtcdCluster | ZooKeeperEnsemble | None = None

    def start_store(self, namespace: str) -> str:
        """Start the 3-member cluster of containers; returns the services' URL (namespace, TTL)."""
        if self.given_url is not None:
            raise DemoFailure("--docker starts its own store in containers: leave out --url")
        try:
            docker_images(EXAMPLES_IMAGE)
            self.cluster = DockerEtcdCluster(3) if self.kind == "etcd" else DockerZooKeeperEnsemble(3)
            with self.interrupts.deferred():
                self.cluster.start()
            self.cluster.wait_healthy()
        except ServerError as exc:
            raise DemoFailure(
                f"could not start {self.kind} in containers: {str(exc).splitlines()[0]}"
            ) from None
        image = self.cluster.members[0].image  # type: ignore[attr-defined]
        self.store_label = f"{self.kind}, 3 containers of {image} at {self.cluster.url}"
        self.url = _with_namespace(self.cluster.url, namespace, self.ttl)
        return self.url

    def launch(
        self, module: str, name: str, service: str, env: Mapping[str, str], *, port: bool = False
    ) -> Process:
        """Run ``python -m module`` in a container of the examples image, its output to
        ``<workdir>/<name>.log``; with ``port``, a free loopback port is passed as PORT."""
        picked = free_ports(1)[0] if port else None
        environ = {**env, "COORDKIT_URL": self.url, "INSTANCE_ID": name}
        if picked is not None:
            environ["PORT"] = str(picked)
        workdir = str(self.workdir)
        command = [
            docker_binary(),
            "run",
            "--rm",
            f"--name=coordkit-demo-{name}-{uuid.uuid4().hex[:8]}",
            "--label=coordkit.demo=1",
            *run_labels(),
            "--network=host",
            "--init",
            # The host's user, so that order-service's SQLite file in the work folder is writable.
            f"--user={os.getuid()}:{os.getgid()}",
            f"--volume={workdir}:{workdir}",
            *(f"--env={key}={value}" for key, value in environ.items()),
            EXAMPLES_IMAGE,
            module,
        ]
        log_path = self.workdir / f"{name}.log"
        with self.interrupts.deferred(), open(log_path, "wb") as log:
            popen = ContainerClient(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            process = Process(name, service, popen, log_path, picked)
            self.processes.append(process)  # before a signal may raise: stop() must know it
        return process

    def stop(self) -> dict[str, int | None]:
        """Stop every service container (SIGTERM, then docker kill), then the store's containers."""
        codes = super().stop()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.stop()
            self.cluster = None
        return codes

    def _kill_leftovers(self) -> None:
        super()._kill_leftovers()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.kill()
