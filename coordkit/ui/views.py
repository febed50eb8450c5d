"""What each page of ``coordkit ui`` shows, read from the store with the library's own readers.

Every function here does fresh reads (no cache: the live view re-reads a section when a watch
says it changed) and returns plain data for a template. A read that fails raises what the
client raises (BackendUnavailableError while the store is unreachable); nothing is half-filled.
Values are shown as text when they are printable UTF-8, else as escaped bytes: a page never
carries raw binary. No URL or option here holds a password (URLs with one are refused by
:func:`coordkit.connect`), and security options are never shown.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from coordkit import Client, Entry
from coordkit.config.values import Invalid, decode, is_hidden
from coordkit.discovery import ServiceInstance, read_services

__all__ = [
    "ConfigKey",
    "Contender",
    "Queue",
    "config_apps",
    "display",
    "instance_row",
    "key_listing",
    "overview",
    "queues",
    "services",
]

_PREVIEW = 200  # characters of a value shown in a listing


def display(value: bytes, limit: int = _PREVIEW) -> str:
    """``value`` as text when it is printable UTF-8, else Python's escaped bytes form."""
    try:
        text = value.decode("utf-8")
        shown = text if text.isprintable() else repr(text)
    except UnicodeDecodeError:
        shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + "…"


@dataclass
class Contender:
    key: str
    name: str
    rank: int
    token: int
    session: str
    value: str
    first_seen: float  # when this UI first saw it (the store keeps no creation time)


@dataclass
class Queue:
    """A lock's, semaphore's or election's contenders in queue order (the head first)."""

    path: str
    contenders: list[Contender] = field(default_factory=list)

    @property
    def head(self) -> Contender | None:
        return self.contenders[0] if self.contenders else None


def overview(client: Client) -> dict[str, Any]:
    """Backend, endpoints with health, server version, members and leader, session state."""
    info = client.server_info()
    endpoints = list(info.endpoints or client.endpoints)
    return {
        "kind": info.kind or client.kind,
        "url": client.url,
        "namespace": client.namespace,
        "endpoints": [
            {"endpoint": e, "up": e not in info.unreachable, "error": info.unreachable.get(e, "")}
            for e in endpoints
        ],
        "version": info.version,
        "versions": dict(info.versions),
        "members": list(info.members),
        "leader": info.leader,
        "state": client.state.value,
    }


def queues(client: Client, seen: dict[tuple[str, int], float]) -> list[Queue]:
    """Every contender queue in the store: a path whose children are all ephemeral leaves
    named as the backend names contenders, listed in queue order by the backend itself.
    ``seen`` remembers when each contender (key, token) was first seen, across calls."""
    names = client.backend.capabilities.contender_names
    by_parent: dict[str, list[Entry]] = {}
    parents_of_others: set[str] = set()
    for entry in client.tree("/"):
        parent, _, leaf = entry.key.rpartition("/")
        if entry.ephemeral and names.fullmatch(leaf):
            by_parent.setdefault(parent or "/", []).append(entry)
        else:
            parents_of_others.add(parent or "/")
            parents_of_others.update(_ancestors(entry.key))
    found = []
    now = time.time()
    for path in sorted(set(by_parent) - parents_of_others):
        contenders, _ = client.backend.queue_list(path, values=True)
        leases = {e.key.rsplit("/", 1)[-1]: e.lease for e in by_parent[path]}
        queue = Queue(path)
        for rank, c in enumerate(contenders):
            stamp = seen.setdefault((c.key, c.create_revision), now)
            lease = leases.get(c.key.rsplit("/", 1)[-1], 0)
            queue.contenders.append(
                Contender(
                    key=c.key,
                    name=c.key.rsplit("/", 1)[-1],
                    rank=rank,
                    token=c.create_revision,
                    session=f"0x{lease:x}" if lease else "-",
                    value=display(c.value),
                    first_seen=stamp,
                )
            )
        if queue.contenders:
            found.append(queue)
    return found


def _ancestors(key: str) -> list[str]:
    parts = key.split("/")
    return ["/".join(parts[:i]) or "/" for i in range(1, len(parts) - 1)]


def instance_row(instance: ServiceInstance, now_ms: int) -> dict[str, Any]:
    """One instance as the services page shows it."""
    since = instance.registered_at
    return {
        "id": instance.id,
        "endpoint": instance.endpoint,
        "status": instance.status,
        "reason": instance.status_reason,
        "weight": instance.weight,
        "zone": instance.metadata.get("zone", ""),
        "metadata": ", ".join(f"{k}={v}" for k, v in sorted(instance.metadata.items()) if k != "zone"),
        "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since / 1000)) if since > 0 else "-",
        "age": f"{max(0, (now_ms - since) // 1000)}s" if since > 0 else "-",
    }


def services(client: Client, base: str) -> dict[str, list[dict[str, Any]]]:
    """Each service under ``base`` with its live instances (Curator's layout on ZooKeeper,
    etcd's naming layout on etcd), as :func:`coordkit.discovery.read_services` reads them."""
    now_ms = int(time.time() * 1000)
    return {
        name: [instance_row(i, now_ms) for i in found]
        for name, found in read_services(client, base=base).items()
    }


@dataclass
class ConfigKey:
    key: str
    value: str  # JSON text, or the problem when invalid
    version: int
    invalid: bool


def config_apps(client: Client, base: str) -> dict[str, list[ConfigKey]]:
    """Each app under ``base`` with its keys, values decoded as coordkit.config decodes them;
    a value that is not JSON is flagged, with the problem and not the value (it may be a secret)."""
    root = "/" + base.strip("/")
    apps: dict[str, list[ConfigKey]] = {}
    for entry in client.tree(root):
        rel = entry.key.lstrip("/")[len(root.lstrip("/")) + 1 :]
        app, _, key = rel.partition("/")
        if not key:
            apps.setdefault(app, [])
            continue
        if is_hidden(key):
            continue
        decoded = decode(entry.value)
        if decoded is None:
            continue
        if isinstance(decoded, Invalid):
            row = ConfigKey(key, decoded.problem, entry.version, True)
        else:
            row = ConfigKey(key, json.dumps(decoded[0], sort_keys=True), entry.version, False)
        apps.setdefault(app, []).append(row)
    return {app: sorted(keys, key=lambda k: k.key) for app, keys in sorted(apps.items())}


def key_listing(client: Client, path: str) -> list[dict[str, Any]]:
    """The immediate children of ``path`` as ``coordkit ls`` lists them: a name with keys below
    it is a directory (linked), a key shows its value (binary-safe), version and lease."""
    base = "/" + path.strip("/") if path.strip("/") else "/"
    rows: dict[str, dict[str, Any]] = {}
    prefix = "" if base == "/" else base.lstrip("/") + "/"
    for entry in client.tree(base):
        rel = entry.key.lstrip("/")[len(prefix) :]
        name, sep, _ = rel.partition("/")
        row = rows.setdefault(name, {"name": name, "path": "/" + prefix + name, "dir": False, "entry": None})
        if sep:
            row["dir"] = True
        else:
            row["entry"] = {
                "value": display(entry.value),
                "version": entry.version,
                "token": entry.create_revision,
                "ephemeral": entry.ephemeral,
            }
    return [rows[name] for name in sorted(rows)]
