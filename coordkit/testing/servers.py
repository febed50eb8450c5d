"""Real ZooKeeper and etcd servers for tests: local processes you can stop, kill, pause and restart.

Single nodes::

    with ZooKeeperServer() as zk, EtcdServer() as etcd:
        connect(zk.url)                      # zk://127.0.0.1:PORT
        etcd.pause(); ...; etcd.resume()     # unreachable without closing its sockets

Clusters, each member controllable on its own::

    with EtcdCluster(3) as cluster:
        leader = cluster.wait_for_leader()
        leader.kill()                        # the other two elect a new leader
        leader.start()                       # same ports and data: it rejoins

Everything binds to 127.0.0.1 on free ports, lives in a temporary folder removed by ``stop()``
(unless ``keep_data=True``), and is SIGKILLed at interpreter exit if still running.
``servers_from_env()`` names external servers (``COORDKIT_TEST_ZK_URL``, ``COORDKIT_TEST_ETCD_URL``)
that offer the same ``url`` but no process control.
"""

from __future__ import annotations

from coordkit.testing._cluster import Cluster
from coordkit.testing._etcd import EtcdCluster, EtcdServer, etcd_binary, etcd_version, etcdctl_binary
from coordkit.testing._external import ExternalServer, ExternalServers, servers_from_env
from coordkit.testing._process import FaultInjectionUnavailable, ServerError, ServerProcess
from coordkit.testing._registry import free_ports, live_pids
from coordkit.testing._secure import SecureEtcdServer, SecureZooKeeperServer, User
from coordkit.testing._zookeeper import (
    ZooKeeperEnsemble,
    ZooKeeperServer,
    four_letter_word,
    java_binary,
    zookeeper_classpath,
)
from coordkit.testing.faults import Outage

__all__ = [
    "Cluster",
    "EtcdCluster",
    "EtcdServer",
    "ExternalServer",
    "ExternalServers",
    "FaultInjectionUnavailable",
    "Outage",
    "SecureEtcdServer",
    "SecureZooKeeperServer",
    "ServerError",
    "ServerProcess",
    "User",
    "ZooKeeperEnsemble",
    "ZooKeeperServer",
    "etcd_binary",
    "etcd_version",
    "etcdctl_binary",
    "four_letter_word",
    "free_ports",
    "java_binary",
    "live_pids",
    "servers_from_env",
    "zookeeper_classpath",
]
