"""Test support for coordkit users and coordkit itself: real local servers and pytest fixtures.

See ``coordkit.testing.servers`` for the harness and ``coordkit.testing.pytest_plugin`` for the
fixtures, which pytest loads by itself once coordkit is installed.
"""

from coordkit.testing.servers import (
    Cluster,
    EtcdCluster,
    EtcdServer,
    ExternalServer,
    ExternalServers,
    FaultInjectionUnavailable,
    ServerError,
    ServerProcess,
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

__all__ = [
    "Cluster",
    "EtcdCluster",
    "EtcdServer",
    "ExternalServer",
    "ExternalServers",
    "FaultInjectionUnavailable",
    "ServerError",
    "ServerProcess",
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
