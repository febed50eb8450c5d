"""Test support for coordkit users and coordkit itself: real local servers and pytest fixtures.

See ``coordkit.testing.servers`` for the harness and ``coordkit.testing.pytest_plugin`` for the
fixtures, which pytest loads by itself once coordkit is installed. Client faults:
``coordkit.testing.proxy`` (a loopback TCP proxy to blackhole, reset or delay), worker processes
in ``coordkit.testing.workers`` and the checkers of their histories in ``coordkit.testing.history``.
``eventually()`` (``coordkit.testing.polling``) waits, with a deadline, for a condition to hold.
"""

from coordkit.testing._registry import install_sigterm_exit
from coordkit.testing.faults import Outage
from coordkit.testing.polling import eventually
from coordkit.testing.proxy import FaultProxy
from coordkit.testing.servers import (
    Cluster,
    EtcdCluster,
    EtcdServer,
    ExternalServer,
    ExternalServers,
    FaultInjectionUnavailable,
    SecureEtcdServer,
    SecureZooKeeperServer,
    ServerError,
    ServerProcess,
    User,
    ZooKeeperEnsemble,
    ZooKeeperServer,
    etcd_binary,
    etcd_version,
    etcdctl_binary,
    four_letter_word,
    free_ports,
    java_binary,
    live_pids,
    servers_from_env,
    zookeeper_classpath,
)
from coordkit.testing.workers import Worker, Workers

# The servers' names are listed here too (not star-imported), so that a reader and the linters
# see the whole public surface in one place.
__all__ = [
    "Cluster",
    "EtcdCluster",
    "EtcdServer",
    "ExternalServer",
    "ExternalServers",
    "FaultInjectionUnavailable",
    "FaultProxy",
    "Outage",
    "SecureEtcdServer",
    "SecureZooKeeperServer",
    "ServerError",
    "ServerProcess",
    "User",
    "Worker",
    "Workers",
    "ZooKeeperEnsemble",
    "ZooKeeperServer",
    "etcd_binary",
    "etcd_version",
    "etcdctl_binary",
    "eventually",
    "four_letter_word",
    "free_ports",
    "install_sigterm_exit",
    "java_binary",
    "live_pids",
    "servers_from_env",
    "zookeeper_classpath",
]
