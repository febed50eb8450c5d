"""Validation of what users pass to the registry and the cache, and the key layout.

Everything is checked here, at the edge, with a message that says what to change; the
layers below only ever see a valid service name, id, address, port, weight and metadata.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError, InvalidNameError
from ..names import join, validate_name
from .defaults import DEFAULT_BASE
from .instance import STATUSES, ServiceInstance

__all__ = [
    "DEFAULT_BASE",
    "check_address",
    "check_base",
    "check_id",
    "check_metadata",
    "check_port",
    "check_service",
    "check_uri_spec",
    "check_weight",
    "instance_key",
    "planned_instance",
    "service_path",
    "split_key",
]

MAX_WEIGHT = 1_000_000
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")
_TEMPLATE = re.compile(r"\{([^{}]*)\}")


def _segment(value: object, what: str) -> str:
    text = validate_name(value, what)
    if "/" in text:
        raise InvalidNameError(f"{what} {text!r} must be a single segment without '/'")
    return text


def check_service(name: object) -> str:
    """A service name: one path segment (``payment-service``)."""
    return _segment(name, "service name")


def check_id(instance_id: object) -> str:
    """An instance id: one path segment, unique within its service."""
    return _segment(instance_id, "instance id")


def check_base(base: object) -> str:
    """The root of the registry (default ``/services``), without a trailing slash."""
    return validate_name(base, "discovery base path").rstrip("/")


def service_path(base: str, service: str) -> str:
    return join(base, service)


def instance_key(base: str, service: str, instance_id: str) -> str:
    return join(base, service, instance_id)


def split_key(service_dir: str, key: str) -> str | None:
    """The instance id if ``key`` is directly below ``service_dir``, else None.

    Leading slashes are ignored on both sides: etcd keeps names as spelled, and a
    namespaced etcd store gives them back with one.
    """
    prefix = service_dir.strip("/") + "/"
    rel = key.lstrip("/")
    if not rel.startswith(prefix):
        return None
    rest = rel[len(prefix) :]
    return rest if rest and "/" not in rest else None


def check_address(address: object) -> str:
    """A host name or an IP address (IPv6 with or without brackets), without a port."""
    if not isinstance(address, str) or not address:
        raise ConfigurationError(f"address must be a non-empty str such as '10.0.0.7', not {address!r}")
    text = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    if ":" in text:
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise ConfigurationError(
                f"address {address!r} is not an IPv6 address; pass the port separately "
                "(register(name, '10.0.0.7', 8080))"
            ) from None
    if not _HOSTNAME.match(text):
        raise ConfigurationError(
            f"address {address!r} is not a host name or IP address (letters, digits, '.', '-', '_')"
        )
    return text


def check_port(port: object, what: str = "port") -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"{what} must be an int from 1 to 65535, not {port!r}")
    return port


def check_weight(weight: object) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise ConfigurationError(
            f"weight must be an int from 1 to {MAX_WEIGHT}, not {weight!r} "
            "(to drain an instance, lower its weight or mark it in its metadata)"
        )
    return weight


def _encodable(text: str, what: str) -> str:
    """``text`` if UTF-8 can encode it; a lone surrogate (which it cannot) is refused here,
    not met as a UnicodeEncodeError when the instance is written (or re-registered)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            f"{what} contains a lone surrogate {text[exc.start]!r} at position {exc.start}, "
            "which UTF-8 cannot encode; pass valid text"
        ) from None
    return text


def _encodable_tree(value: Any, what: str) -> None:
    """Every str in ``value`` (nested mappings and lists too) is UTF-8 encodable."""
    if isinstance(value, str):
        _encodable(value, what)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _encodable_tree(key, what)
            _encodable_tree(item, what)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _encodable_tree(item, what)


def check_metadata(metadata: object) -> dict[str, str]:
    """A mapping of non-empty str keys to UTF-8 encodable str values (copied)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ConfigurationError(f"metadata must be a mapping of str to str, not {type(metadata).__name__}")
    checked: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or not key.isprintable():
            raise ConfigurationError(f"metadata key {key!r} must be a non-empty printable str")
        if not isinstance(value, str):
            raise ConfigurationError(
                f"metadata value of {key!r} must be a str, not {type(value).__name__} {value!r}; "
                "convert it (e.g. str(value))"
            )
        checked[key] = _encodable(value, f"metadata value of {key!r}")
    return checked


def check_status(status: object, reason: object) -> tuple[str, str]:
    """``(status, reason)``: a status of :data:`~.instance.STATUSES` and a printable str of at
    most 200 characters (what ``coordkit services`` shows next to it)."""
    if status not in STATUSES:
        raise ConfigurationError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if not isinstance(reason, str) or len(reason) > 200 or not reason.isprintable():
        raise ConfigurationError(
            f"a status reason must be a printable str of at most 200 characters, not {reason!r}"
        )
    return str(status), reason


def check_statuses(statuses: object) -> frozenset[str] | None:
    """The statuses a cache or balancer keeps: a collection of :data:`~.instance.STATUSES`, or
    None for every instance whatever its status."""
    if statuses is None:
        return None
    if isinstance(statuses, str) or not isinstance(statuses, (tuple, list, set, frozenset)):
        raise ConfigurationError(f"statuses must be a tuple of statuses (or None for all), not {statuses!r}")
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown or not statuses:
        raise ConfigurationError(
            f"statuses must be among {', '.join(STATUSES)}, not {sorted(map(str, statuses))}"
        )
    return frozenset(statuses)


def check_uri_spec(spec: object) -> dict[str, Any] | None:
    """Curator's UriSpec: a template such as ``"{scheme}://{address}:{port}"`` (turned into
    Curator's ``{"parts": [...]}`` form), that form itself, or None."""
    if spec is None:
        return None
    _encodable_tree(spec, "uri_spec")
    if isinstance(spec, str):
        parts: list[dict[str, Any]] = []
        position = 0
        for match in _TEMPLATE.finditer(spec):
            if match.start() > position:
                parts.append({"value": spec[position : match.start()], "variable": False})
            parts.append({"value": match.group(1), "variable": True})
            position = match.end()
        if position < len(spec):
            parts.append({"value": spec[position:], "variable": False})
        return {"parts": parts}
    if isinstance(spec, Mapping) and isinstance(spec.get("parts"), list):
        return dict(spec)
    raise ConfigurationError(
        f"uri_spec must be a template such as '{{scheme}}://{{address}}:{{port}}', "
        f"Curator's {{'parts': [...]}} form, or None; not {spec!r}"
    )


def planned_instance(
    name: str,
    address: str,
    port: int,
    *,
    id: str | None,
    metadata: Mapping[str, str] | None,
    weight: int,
    base: str,
    ssl_port: int | None,
    uri_spec: str | Mapping[str, Any] | None,
) -> tuple[str, ServiceInstance]:
    """The key and the instance a registration writes (sync or async), every argument checked
    (ConfigurationError for a bad one); ``id`` defaults to a random UUID, as Curator's."""
    service = check_service(name)
    instance_id = check_id(id) if id is not None else str(uuid.uuid4())
    return instance_key(check_base(base), service, instance_id), ServiceInstance(
        name=service,
        id=instance_id,
        address=check_address(address),
        port=check_port(port),
        metadata=check_metadata(metadata),
        weight=check_weight(weight),
        registered_at=int(time.time() * 1000),
        ssl_port=None if ssl_port is None else check_port(ssl_port, "ssl_port"),
        uri_spec=check_uri_spec(uri_spec),
    )
