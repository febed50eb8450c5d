"""The servers in containers keep the harness's promises: where they run, what pause, kill and
restart do to the container, and that nothing is left once they stop."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

import coordkit
from coordkit.testing.docker import (
    LABEL,
    DockerEtcdServer,
    DockerZooKeeperServer,
    docker_binary,
)

pytestmark = pytest.mark.docker

Server = DockerEtcdServer | DockerZooKeeperServer
FACTORIES: dict[str, Callable[[], Server]] = {"etcd": DockerEtcdServer, "zookeeper": DockerZooKeeperServer}


def _inspect(container: str, template: str) -> str:
    done = subprocess.run(
        [docker_binary(), "inspect", "--format", template, container],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else f"absent: {done.stderr.strip()}"


def _answers(server: Server) -> bool:
    if isinstance(server, DockerEtcdServer):
        return server.healthy(timeout=1.0)
    return server.mode(timeout=1.0) is not None


@pytest.fixture(params=sorted(FACTORIES))
def server(request: pytest.FixtureRequest) -> Server:
    return FACTORIES[request.param]()


def test_a_server_runs_in_a_labelled_container_on_the_host_network(server: Server) -> None:
    with server:
        assert _inspect(server.container, "{{.HostConfig.NetworkMode}}") == "host"
        assert _inspect(server.container, f'{{{{index .Config.Labels "{LABEL}"}}}}') == "1"
        assert _inspect(server.container, "{{.Config.Image}}") == server.image
        assert server.url.startswith(f"{server.scheme}://127.0.0.1:")
    assert _inspect(server.container, "{{.State.Status}}").startswith("absent")


def test_pause_freezes_the_container_and_resume_thaws_it(server: Server) -> None:
    with server, coordkit.connect(server.url, ttl=4, timeout=5) as client:
        client.put("/before", "1")
        server.pause()
        assert _inspect(server.container, "{{.State.Paused}}") == "true"
        assert not _answers(server)
        server.resume()
        assert _inspect(server.container, "{{.State.Paused}}") == "false"
        assert _answers(server)
        assert client.get_text("/before") == "1"


def test_kill_removes_the_container_and_start_recovers_the_data(server: Server) -> None:
    with server:
        url = server.url
        with coordkit.connect(url, ttl=4, timeout=5) as client:
            client.put("/kept", "yes")
        first = server.container
        server.kill()
        assert not server.running
        assert _inspect(first, "{{.State.Status}}").startswith("absent")
        server.start()
        assert server.url == url
        with coordkit.connect(url, ttl=4, timeout=5) as client:
            assert client.get_text("/kept") == "yes"
        server.restart()
        with coordkit.connect(url, ttl=4, timeout=5) as client:
            assert client.get_text("/kept") == "yes"
