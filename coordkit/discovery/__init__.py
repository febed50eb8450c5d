"""Service registration, discovery caches and wire formats.

``client.register(...)`` makes a :class:`Registration`, ``client.instances(name)`` reads
once, ``client.discover(name)`` makes a live :class:`ServiceCache`. The stored layouts
(Curator's JSON on ZooKeeper, etcd's gRPC naming on etcd) are in :mod:`.formats`;
:func:`split_endpoint` reads an address as ``host:port`` or ``[v6]:port``; it raises
:class:`InstanceFormatError` (also named ``FormatError``), as a stored record that fits no layout
does.

An instance's status is one of :data:`STATUSES` (:data:`UP`, :data:`DRAINING`, :data:`DOWN`):
its owner changes it (``registration.drain()``, ``up()``, a :class:`HealthCheck`), an operator
too (:func:`set_instance_status`, ``coordkit maint``); caches and balancers keep up ones.
"""

from typing import TYPE_CHECKING

from ..core.exports import lazy_exports

if TYPE_CHECKING:
    from .cache import InstancesListener, RegistryCache, ServiceCache
    from .formats import FormatError, InstanceFormatError, split_endpoint
    from .health import HealthCheck
    from .instance import DOWN, DRAINING, STATUSES, UP, ServiceInstance
    from .registry import Registration, read_instances, read_services
    from .status import set_instance_status

# Each public name and the module that defines it, imported on first use (see coordkit.core.exports).
_EXPORTS = {
    "DOWN": ".instance",
    "DRAINING": ".instance",
    "FormatError": ".formats",
    "HealthCheck": ".health",
    "InstanceFormatError": ".formats",
    "InstancesListener": ".cache",
    "Registration": ".registry",
    "RegistryCache": ".cache",
    "STATUSES": ".instance",
    "ServiceCache": ".cache",
    "ServiceInstance": ".instance",
    "UP": ".instance",
    "read_instances": ".registry",
    "read_services": ".registry",
    "set_instance_status": ".status",
    "split_endpoint": ".formats",
}
if not TYPE_CHECKING:  # type checkers read the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DOWN",
    "DRAINING",
    "STATUSES",
    "UP",
    "FormatError",
    "HealthCheck",
    "InstanceFormatError",
    "InstancesListener",
    "Registration",
    "RegistryCache",
    "ServiceCache",
    "ServiceInstance",
    "read_instances",
    "read_services",
    "set_instance_status",
    "split_endpoint",
]
