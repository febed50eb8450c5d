"""An operator's status change of an instance registered by another process (``coordkit maint``).

The owner's key is rewritten in place, on the version read (a concurrent change of the owner
makes it a conflict, and it is tried again on the new value), keeping the owner's session:
the key still vanishes when the owner's session ends. The owner's :class:`~.registry.Registration`
adopts such a status when it next writes (its own update, a health check's verdict), so that it
does not undo the operator's change; a re-registration after the owner's session was lost
writes what the owner knew then (the key, and with it the operator's change, went with the
session).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..backends.base import Put
from ..errors import ConflictError, NotFoundError
from ._checks import DEFAULT_BASE, check_base, check_id, check_service, check_status, instance_key
from .formats import FormatError, InstanceFormat, format_for
from .instance import ServiceInstance

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["set_instance_status", "stored_instance"]

_ATTEMPTS = 5


def stored_instance(
    client: Store, fmt: InstanceFormat, key: str, service: str, instance_id: str
) -> tuple[ServiceInstance, int] | None:
    """The instance at ``key`` and its version, or None if absent or not an instance."""
    entry = client.get(key)
    if entry is None:
        return None
    try:
        return fmt.decode(service, instance_id, entry.value), entry.version
    except FormatError:
        return None


def set_instance_status(
    client: Store, name: str, instance_id: str, status: str, *, reason: str = "", base: str = DEFAULT_BASE
) -> ServiceInstance:
    """Set the status of instance ``instance_id`` of service ``name`` and return it as stored.

    Raises NotFoundError if no such instance is registered, ConfigurationError for a bad
    argument, ConflictError if its owner kept changing it meanwhile, BackendUnavailableError
    if the store does not answer (then the change may or may not have been made)."""
    service, ident = check_service(name), check_id(instance_id)
    status, reason = check_status(status, "" if status == "up" else reason)
    key = instance_key(check_base(base), service, ident)
    fmt = format_for(client.backend.capabilities.layout)
    for _ in range(_ATTEMPTS):
        found = stored_instance(client, fmt, key, service, ident)
        if found is None:
            raise NotFoundError(f"service {service} has no instance {ident} (under {base})")
        instance, version = found
        changed = replace(instance, status=status, status_reason=reason)
        try:
            client.commit([Put(key, fmt.encode(changed), version=version, keep_owner=True)])
        except ConflictError:
            continue  # the owner wrote meanwhile: apply the change to what it wrote
        return changed
    raise ConflictError(f"{key} kept changing; its status was not set")
