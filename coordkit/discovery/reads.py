"""One-shot reads of the registry: one service's instances, or every service's."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..backends.base import Entry
from ..errors import InstanceFormatError
from ._checks import DEFAULT_BASE, check_base, check_service, service_path, split_key
from .formats import InstanceFormat, format_for
from .instance import ServiceInstance

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["decode_entry", "read_instances", "read_services"]

log = logging.getLogger("coordkit.discovery.registry")  # the name these lines have always had


def decode_entry(fmt: InstanceFormat, service: str, instance_id: str, entry: Entry) -> ServiceInstance | None:
    """The instance stored in ``entry``, or None (with a warning) if it cannot be used:
    other tools write under the same paths, and one bad entry must not hide the others."""
    try:
        return fmt.decode(service, instance_id, entry.value)
    except InstanceFormatError as exc:
        log.warning(
            "coordkit discovery: skipping %s, not a service instance in %s format: %s",
            entry.key,
            fmt.name,
            exc,
        )
        return None


def _sort_key(instance: ServiceInstance) -> tuple[str, str]:
    return instance.id, instance.address


def read_instances(client: Store, name: str, *, base: str = DEFAULT_BASE) -> list[ServiceInstance]:
    """The live instances of service ``name``, sorted by id: one read (a range read on etcd,
    pipelined reads on ZooKeeper). Entries that are not instances are skipped with a warning.
    Raises BackendUnavailableError if the store cannot be reached within the client's timeout."""
    service = check_service(name)
    path = service_path(check_base(base), service)
    fmt = format_for(client.backend.capabilities.layout)
    found = []
    for entry in client.tree(path):
        instance_id = split_key(path, entry.key)
        instance = None if instance_id is None else decode_entry(fmt, service, instance_id, entry)
        if instance is not None:
            found.append(instance)
    return sorted(found, key=_sort_key)


def read_services(client: Store, *, base: str = DEFAULT_BASE) -> dict[str, list[ServiceInstance]]:
    """Every service under ``base`` with its live instances (sorted by id), from one read.
    On ZooKeeper a service whose node exists with no instance left is listed empty."""
    root = check_base(base)
    fmt = format_for(client.backend.capabilities.layout)
    services: dict[str, list[ServiceInstance]] = {}
    prefix = root.strip("/") + "/"
    for entry in client.tree(root):
        rel = entry.key.lstrip("/")[len(prefix) :] if entry.key.lstrip("/").startswith(prefix) else ""
        parts = rel.split("/")
        if not rel or len(parts) > 2:
            continue
        listed = services.setdefault(parts[0], [])
        if len(parts) == 2:
            instance = decode_entry(fmt, parts[0], parts[1], entry)
            if instance is not None:
                listed.append(instance)
    return {name: sorted(found, key=_sort_key) for name, found in sorted(services.items())}
