"""pytest fixtures that provide real ZooKeeper and etcd servers.

Installing coordkit registers this module as a pytest plugin (the ``pytest11`` entry point named
``coordkit``), so the fixtures are available without any import; ``-p no:coordkit`` turns it off.
It installs nothing global unless asked: ``coordkit_sigterm_exit = true`` in the ini file (or
``--coordkit-sigterm-exit``) turns SIGTERM into SystemExit, so that a run killed by a CI timeout
still stops the servers it started.

Fixtures:

``zookeeper_server`` (session)
    One ZooKeeper node for the whole session, or the external servers named by
    ``COORDKIT_TEST_ZK_URL``. Use its ``url``; do not kill or pause it, other tests share it.
``etcd_server`` (session)
    The same for etcd, or ``COORDKIT_TEST_ETCD_URL``.
``zookeeper_ensemble`` (function)
    A fresh local 3-node ZooKeeper ensemble, removed after the test: kill, pause and restart
    members at will (``zookeeper_ensemble.members[0].kill()``).
``etcd_cluster`` (function)
    A fresh local 3-member etcd cluster, the same way.
``secure_etcd_server``, ``secure_zookeeper_server`` (session)
    Secured servers (TLS, client certificates, users); ``server.credentials("alice")`` gives
    ``connect()`` keywords. They need the ``cryptography`` package.

Docker mode (``--coordkit-docker=single`` or ``=cluster``, or ``COORDKIT_TEST_DOCKER`` set to
either): the four server fixtures above run their servers in containers instead
(``coordkit.testing.docker``); with ``cluster``, ``zookeeper_server`` and ``etcd_server`` are
3-member clusters in containers. Tests marked ``docker`` need it and are skipped without it;
the ``docker_mode`` fixture says which mode runs (``""`` outside docker mode).

Tests that inject faults into a single node should start their own ``ZooKeeperServer()`` or
``EtcdServer()`` in a ``with`` block rather than use the shared session servers. Local servers need
the binaries (``scripts/install-servers.sh``); a missing binary fails the test with install advice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from coordkit.testing import docker
from coordkit.testing._etcd import EtcdCluster, EtcdServer
from coordkit.testing._external import ExternalServer, servers_from_env
from coordkit.testing._registry import install_sigterm_exit
from coordkit.testing._secure import SecureEtcdServer, SecureZooKeeperServer
from coordkit.testing._zookeeper import ZooKeeperEnsemble, ZooKeeperServer

SIGTERM_EXIT_INI = "coordkit_sigterm_exit"
SIGTERM_EXIT_FLAG = "--coordkit-sigterm-exit"
_DOCKER_MODES = ("", "single", "cluster")


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin is loaded in every test run of every project that installs coordkit, so it
    changes nothing global by default; the SIGTERM handler is opt-in. ``--coordkit-docker``
    runs the server fixtures' servers in containers."""
    help_text = (
        "turn SIGTERM into SystemExit (exit status 143), so that a run stopped by a CI timeout "
        "or timeout(1) still runs the harness's cleanup and leaves no server behind"
    )
    parser.addini(SIGTERM_EXIT_INI, help_text, type="bool", default=False)
    group = parser.getgroup("coordkit")
    group.addoption(
        SIGTERM_EXIT_FLAG, action="store_true", default=False, dest="coordkit_sigterm_exit", help=help_text
    )
    group.addoption(
        "--coordkit-docker",
        choices=_DOCKER_MODES,
        default=os.environ.get("COORDKIT_TEST_DOCKER", ""),
        help="servers in Docker containers: single nodes, or 3-member clusters for the shared fixtures",
    )


def pytest_configure(config: pytest.Config) -> None:
    """With ``coordkit_sigterm_exit = true`` (ini) or ``--coordkit-sigterm-exit``: a run stopped
    with SIGTERM would otherwise die without running the harness's exit cleanup and leave its
    servers behind, so SIGTERM becomes SystemExit and the cleanup runs. A handler set by
    somebody else is kept; without the option the disposition is left as it was."""
    config.addinivalue_line("markers", "docker: needs the servers in containers (--coordkit-docker)")
    if config.getoption("coordkit_sigterm_exit") or config.getini(SIGTERM_EXIT_INI):
        install_sigterm_exit()


def _docker_mode(config: pytest.Config) -> str:
    mode = str(config.getoption("--coordkit-docker", default="") or "")
    if mode not in _DOCKER_MODES:
        raise pytest.UsageError(f"COORDKIT_TEST_DOCKER must be single or cluster, not {mode!r}")
    return mode


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside docker mode, tests marked ``docker`` are skipped, saying how to select them."""
    if _docker_mode(config):
        return
    skip = pytest.mark.skip(
        reason="needs docker mode: --coordkit-docker=single|cluster (scripts/test-docker.sh)"
    )
    for item in items:
        if item.get_closest_marker("docker") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def docker_mode(pytestconfig: pytest.Config) -> str:
    """``"single"`` or ``"cluster"`` in docker mode, else ``""``."""
    return _docker_mode(pytestconfig)


@pytest.fixture(scope="session")
def zookeeper_server(
    docker_mode: str,
) -> Iterator[ZooKeeperServer | ZooKeeperEnsemble | ExternalServer]:
    """A ZooKeeper server shared by the session: external if ``COORDKIT_TEST_ZK_URL`` is set;
    in docker mode a container (``cluster``: a 3-member ensemble of containers)."""
    external = servers_from_env().zookeeper
    if external is not None:
        yield external
        return
    server: ZooKeeperServer | ZooKeeperEnsemble
    if docker_mode:
        server = (
            docker.DockerZooKeeperEnsemble(3) if docker_mode == "cluster" else docker.DockerZooKeeperServer()
        )
    else:
        server = ZooKeeperServer()
    with server:
        yield server


@pytest.fixture(scope="session")
def etcd_server(docker_mode: str) -> Iterator[EtcdServer | EtcdCluster | ExternalServer]:
    """An etcd server shared by the session: external if ``COORDKIT_TEST_ETCD_URL`` is set;
    in docker mode a container (``cluster``: a 3-member cluster of containers)."""
    external = servers_from_env().etcd
    if external is not None:
        yield external
        return
    server: EtcdServer | EtcdCluster
    if docker_mode:
        server = docker.DockerEtcdCluster(3) if docker_mode == "cluster" else docker.DockerEtcdServer()
    else:
        server = EtcdServer()
    with server:
        yield server


@pytest.fixture
def zookeeper_ensemble(docker_mode: str) -> Iterator[ZooKeeperEnsemble]:
    """A fresh 3-node ZooKeeper ensemble for one test (never external: tests inject faults),
    of containers in docker mode."""
    if docker_mode:
        with docker.DockerZooKeeperEnsemble(3) as containers:
            yield containers
        return
    with ZooKeeperEnsemble(3) as ensemble:
        yield ensemble


@pytest.fixture
def etcd_cluster(docker_mode: str) -> Iterator[EtcdCluster]:
    """A fresh 3-member etcd cluster for one test (never external: tests inject faults), of
    containers in docker mode."""
    if docker_mode:
        with docker.DockerEtcdCluster(3) as containers:
            yield containers
        return
    with EtcdCluster(3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def secure_etcd_server() -> Iterator[SecureEtcdServer]:
    """An etcd for the session with TLS, client certificates and auth, and a user ``alice``
    who may touch every key: ``connect(server.url, **server.credentials("alice"))``.
    Needs the ``cryptography`` package (``pip install coordkit[test]``)."""
    with SecureEtcdServer() as server:
        yield server


@pytest.fixture(scope="session")
def secure_zookeeper_server() -> Iterator[SecureZooKeeperServer]:
    """A ZooKeeper for the session with a TLS ``secureClientPort`` (its ``url``) beside the
    plain port (``plain_url``); ``credentials("alice")`` gives a digest user over TLS."""
    with SecureZooKeeperServer() as server:
        yield server
