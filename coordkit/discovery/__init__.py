"""Service registration, discovery caches and wire formats.

``client.register(...)`` makes a :class:`Registration`, ``client.instances(name)`` reads
once, ``client.discover(name)`` makes a live :class:`ServiceCache`. The stored layouts
(Curator's JSON on ZooKeeper, etcd's gRPC naming on etcd) are in :mod:`.formats`;
:func:`split_endpoint` reads an address as ``host:port`` or ``[v6]:port``; it raises
:class:`InstanceFormatError` (also named ``FormatError``), as a stored record that fits no layout does.
"""

from .cache import InstancesListener, RegistryCache, ServiceCache
from .formats import FormatError, InstanceFormatError, split_endpoint
from .instance import ServiceInstance
from .registry import Registration, read_instances, read_services

__all__ = [
    "FormatError",
    "InstanceFormatError",
    "InstancesListener",
    "Registration",
    "RegistryCache",
    "ServiceCache",
    "ServiceInstance",
    "read_instances",
    "read_services",
    "split_endpoint",
]
