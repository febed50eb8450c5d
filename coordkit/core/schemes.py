"""The URL scheme registry: which backend each scheme opens, and what differs between them.

This is the one module above ``coordkit.backends`` that names a backend kind. Everything the
URL parser and the credential checks need to know about a backend (its default port, whether
it has servers at all, whether ZooKeeper's ACLs apply) is a field of its :class:`Scheme`; the
backend modules are imported only when a URL of theirs is opened, so that a ``memory://`` user
never imports kazoo or etcd3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..backends.base import Backend
from .security import Security

__all__ = ["SCHEMES", "Scheme", "open_backend", "scheme_of"]

Opener = Callable[[Sequence[str], str, float, Security], Backend]


def _open_zookeeper(endpoints: Sequence[str], namespace: str, timeout: float, security: Security) -> Backend:
    from ..backends.zookeeper.backend import ZooKeeperBackend

    return ZooKeeperBackend(
        list(endpoints), namespace, options={"operation_timeout": timeout, "security": security}
    )


def _open_etcd(endpoints: Sequence[str], namespace: str, timeout: float, security: Security) -> Backend:
    from ..backends.etcd.backend import EtcdBackend

    return EtcdBackend(
        list(endpoints), namespace, options={"operation_timeout": timeout, "security": security}
    )


def _open_memory(endpoints: Sequence[str], namespace: str, timeout: float, security: Security) -> Backend:
    from ..backends.memory import MemoryBackend

    return MemoryBackend(endpoints[0], namespace, options={})


class Scheme(NamedTuple):
    """One backend as URLs name it.

    ``default_port`` is None for a store inside this process (no servers, so no host list, no
    TLS, no credentials, and any TTL). ``tls``: the scheme itself asks for TLS (``etcds://``).
    ``acl``: ZooKeeper's node ACLs and SASL apply.
    """

    kind: str
    default_port: int | None
    open: Opener
    tls: bool = False
    acl: bool = False

    @property
    def in_process(self) -> bool:
        return self.default_port is None


_ZOOKEEPER = Scheme("zookeeper", 2181, _open_zookeeper, acl=True)
_ETCD = Scheme("etcd", 2379, _open_etcd)
SCHEMES: dict[str, Scheme] = {
    "zk": _ZOOKEEPER,
    "zookeeper": _ZOOKEEPER,
    "etcd": _ETCD,
    "etcds": Scheme("etcd", 2379, _open_etcd, tls=True),
    "memory": Scheme("memory", None, _open_memory),
}


_BY_KIND = {scheme.kind: scheme for scheme in SCHEMES.values() if not scheme.tls}


def scheme_of(kind: str) -> Scheme:
    """The scheme of backend ``kind`` (a parsed URL's kind). Raises KeyError for an unknown kind."""
    return _BY_KIND[kind]


def open_backend(
    kind: str, endpoints: Sequence[str], namespace: str, *, timeout: float, security: Security
) -> Backend:
    """A backend of ``kind``, not yet connected (its session opens it)."""
    return scheme_of(kind).open(endpoints, namespace, timeout, security)
