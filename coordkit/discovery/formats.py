"""Wire formats of a registration: what one instance's key holds, per backend.

ZooKeeper (and the memory backend): Apache Curator's service discovery JSON, what
``curator-x-discovery``'s ``JsonInstanceSerializer`` writes and Spring Cloud Zookeeper reads::

    {"name": "payment", "id": "4f1c...", "address": "10.0.0.7", "port": 8080,
     "sslPort": null, "payload": null, "registrationTimeUTC": 1700000000000,
     "serviceType": "DYNAMIC", "uriSpec": null, "weight": 1, "metadata": {"zone": "a"}}

``weight`` and ``metadata`` are coordkit's own, as extra top-level properties: Curator's
serializer is built with ``FAIL_ON_UNKNOWN_PROPERTIES`` off, so it ignores them (the
interop test checks it with Curator's own classes). Reading, Spring Cloud's payload
``{"@class": ..., "metadata": {...}}`` supplies the metadata when there is no top-level one.

etcd: the value that etcd's gRPC naming writes and its resolver reads (``naming.Update`` of
etcd 3.4, which the ``endpoints`` package of 3.5 still parses, ignoring ``Op``)::

    {"Op": 0, "Addr": "10.0.0.7:8080",
     "Metadata": {"weight": 1, "metadata": {"zone": "a"}, "registrationTimeUTC": 1700000000000}}

``sslPort`` and ``uriSpec`` are added to ``Metadata`` only when set. Entries written by other
tools may carry any ``Metadata`` (a string, null); they read as weight 1 without metadata.

Status (issue 15): an instance that is not up carries ``"status"`` (``draining`` or ``down``)
and, when given, ``"statusReason"``: top-level in Curator's JSON, with Curator 5's own
``"enabled": false`` (which Curator's ``ServiceInstance.isEnabled()`` reports), in ``Metadata`` on
etcd. An up instance writes none of them, so its value is what it was before statuses existed.
Reading, an absent status is up, unless Curator's ``enabled`` is false (then draining: an
operator took it out of service); Eureka's ``OUT_OF_SERVICE`` spelling reads as draining, and
any other word as down (traffic goes only where a status says up).
Curator's ``payload`` is left alone: it is the application's own typed object there.

In both layouts the key is ``<base>/<service>/<id>``. Decoding raises :class:`InstanceFormatError`
for a value that is not a usable instance; the discovery cache skips such entries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from ..backends.base import Layout
from ..errors import InstanceFormatError
from .instance import DOWN, DRAINING, STATUSES, UP, ServiceInstance

__all__ = [
    "CURATOR",
    "ETCD_ENDPOINTS",
    "FormatError",
    "InstanceFormat",
    "InstanceFormatError",
    "format_for",
    "split_endpoint",
]


FormatError = InstanceFormatError  # its name before it joined coordkit.errors


class InstanceFormat(Protocol):
    """How one backend's registrations are encoded."""

    name: str

    def encode(self, instance: ServiceInstance) -> bytes: ...

    def decode(self, service: str, key_id: str, value: bytes) -> ServiceInstance:
        """The instance stored under ``<base>/<service>/<key_id>``; raises InstanceFormatError."""
        ...


def _load(value: bytes) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InstanceFormatError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InstanceFormatError(f"a JSON {type(data).__name__}, not an object")
    return data


def _dump(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _port(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise InstanceFormatError(f"{what} {value!r} is not a port number")
    return value


def _weight(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InstanceFormatError(f"weight {value!r} is not a positive integer")
    return value


def _metadata(value: Any) -> dict[str, str]:
    """String keys to string values; other scalars are kept as their JSON text, nested
    values dropped (another ecosystem's map should not make the whole entry unusable)."""
    if not isinstance(value, dict):
        return {}
    found: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            found[str(key)] = item
        elif isinstance(item, (bool, int, float)) or item is None:
            found[str(key)] = json.dumps(item)
    return found


def _timestamp(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _status(value: Any, enabled: Any = True) -> str:
    if isinstance(value, str):
        word = value.lower()
        if word in STATUSES:
            return word
        # Another tool's word for "out of service"; any other word is not a promise of health.
        return DRAINING if word in ("out_of_service", "maintenance") else DOWN
    return DRAINING if enabled is False else UP


def _reason(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _status_fields(instance: ServiceInstance) -> dict[str, Any]:
    """What a registration says about its status: nothing when up (see the module docstring)."""
    if instance.status == UP:
        return {}
    fields: dict[str, Any] = {"status": instance.status}
    if instance.status_reason:
        fields["statusReason"] = instance.status_reason
    return fields


def _identifier(data: Mapping[str, Any], key_id: str) -> str:
    found = data.get("id")
    return found if isinstance(found, str) and found else key_id


class _Curator:
    """Apache Curator's ``ServiceInstance`` JSON (see the module docstring)."""

    name = "curator"

    def encode(self, instance: ServiceInstance) -> bytes:
        return _dump(
            {
                "name": instance.name,
                "id": instance.id,
                "address": instance.address,
                "port": instance.port,
                "sslPort": instance.ssl_port,
                "payload": None,
                "registrationTimeUTC": instance.registered_at,
                "serviceType": "DYNAMIC",
                "uriSpec": instance.uri_spec,
                "weight": instance.weight,
                "metadata": dict(instance.metadata),
                **({"enabled": False, **_status_fields(instance)} if instance.status != UP else {}),
            }
        )

    def decode(self, service: str, key_id: str, value: bytes) -> ServiceInstance:
        data = _load(value)
        address = data.get("address")
        if not isinstance(address, str) or not address:
            raise InstanceFormatError("no address")
        ssl_port = _port(data.get("sslPort"), "sslPort")
        # Curator allows an instance with only an SSL port; it is still reachable there.
        port = _port(data.get("port"), "port") or ssl_port
        if port is None:
            raise InstanceFormatError("neither port nor sslPort")
        metadata = data.get("metadata")
        payload = data.get("payload")
        if metadata is None and isinstance(payload, dict):
            metadata = payload.get("metadata")  # Spring Cloud Zookeeper's ZookeeperInstance
        uri_spec = data.get("uriSpec")
        return ServiceInstance(
            name=service,
            id=_identifier(data, key_id),
            address=address,
            port=port,
            metadata=_metadata(metadata),
            weight=_weight(data.get("weight")),
            registered_at=_timestamp(data.get("registrationTimeUTC")),
            ssl_port=ssl_port,
            uri_spec=uri_spec if isinstance(uri_spec, dict) else None,
            status=_status(data.get("status"), data.get("enabled", True)),
            status_reason=_reason(data.get("statusReason")),
        )


def split_endpoint(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` as ``(host, port)``; raises InstanceFormatError."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InstanceFormatError(f"{text!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise InstanceFormatError(f"{text!r}: an IPv6 address needs brackets, as in [::1]:80")
    number = _port(int(port), "port")
    assert number is not None
    return host, number


def join_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _EtcdEndpoints:
    """etcd's gRPC naming ``{"Op", "Addr", "Metadata"}`` (see the module docstring)."""

    name = "etcd-endpoints"

    def encode(self, instance: ServiceInstance) -> bytes:
        metadata: dict[str, Any] = {
            "weight": instance.weight,
            "metadata": dict(instance.metadata),
            "registrationTimeUTC": instance.registered_at,
        }
        if instance.ssl_port is not None:
            metadata["sslPort"] = instance.ssl_port
        if instance.uri_spec is not None:
            metadata["uriSpec"] = instance.uri_spec
        metadata.update(_status_fields(instance))
        return _dump({"Op": 0, "Addr": join_endpoint(instance.address, instance.port), "Metadata": metadata})

    def decode(self, service: str, key_id: str, value: bytes) -> ServiceInstance:
        data = _load(value)
        if data.get("Op", 0) != 0:
            raise InstanceFormatError(f"Op {data.get('Op')!r} is not an addition (0)")
        addr = data.get("Addr")
        if not isinstance(addr, str):
            raise InstanceFormatError("no Addr")
        host, port = split_endpoint(addr)
        extra = data.get("Metadata")
        extra = extra if isinstance(extra, dict) else {}
        uri_spec = extra.get("uriSpec")
        return ServiceInstance(
            name=service,
            id=key_id,
            address=host,
            port=port,
            metadata=_metadata(extra.get("metadata")),
            weight=_weight(extra.get("weight")),
            registered_at=_timestamp(extra.get("registrationTimeUTC")),
            ssl_port=_port(extra.get("sslPort"), "sslPort"),
            uri_spec=uri_spec if isinstance(uri_spec, dict) else None,
            status=_status(extra.get("status")),
            status_reason=_reason(extra.get("statusReason")),
        )


CURATOR: InstanceFormat = _Curator()
ETCD_ENDPOINTS: InstanceFormat = _EtcdEndpoints()


def format_for(layout: Layout) -> InstanceFormat:
    """The registration format of a backend's wire layout: etcd's naming endpoints where the
    backend speaks etcd's layout, Curator's service discovery JSON where it speaks Curator's
    (ZooKeeper, and memory, whose names are paths as on ZooKeeper)."""
    return ETCD_ENDPOINTS if layout is Layout.ETCD else CURATOR
