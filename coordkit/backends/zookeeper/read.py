"""Pipelined ZooKeeper reads shared by :mod:`coordkit.backends.zookeeper.backend` and its watches.

ZooKeeper answers one session's requests in the order they were sent, so issuing every read
of a tree level before waiting for any answer costs one round trip per level, not one per
node. These helpers raise kazoo's own exceptions; the backend translates them in one table.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import ZnodeStat

from ...names import PARENT_MARK
from ..base import Entry

__all__ = [
    "PARENT_MARK",
    "SYSTEM_NODE",
    "Levels",
    "NodeRead",
    "child_path",
    "get_entry",
    "held_parent",
    "is_parent",
    "list_children",
    "read_data",
    "read_key",
    "read_levels",
    "read_nodes",
    "read_tree",
    "to_entry",
    "visible",
    "wait",
]

SYSTEM_NODE = "zookeeper"  # the server's own subtree at the real root, never a coordkit key
# The data of an implicit parent: a node that exists only because keys live below it (created
# for them, or a key deleted while it had children). It is not a key: reads skip it. coordkit
# refuses to write this value (coordkit.names), so no key can be mistaken for a parent.

Watcher = Callable[[Any], None]


class NodeRead(NamedTuple):
    """One node read, with its children's names when they were asked for."""

    data: bytes
    stat: ZnodeStat
    children: list[str]

    def max_zxid(self) -> int:
        """The latest change this read reflects (pzxid: the last child created or deleted)."""
        return int(max(self.stat.czxid, self.stat.mzxid, self.stat.pzxid))


def child_path(parent: str, name: str) -> str:
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


def visible(parent: str, names: Iterable[str], *, chrooted: bool) -> list[str]:
    """Children as coordkit shows them: sorted, without ``/zookeeper`` at the real root."""
    if parent == "/" and not chrooted:
        return sorted(n for n in names if n != SYSTEM_NODE)
    return sorted(names)


def is_parent(data: bytes | None) -> bool:
    """Whether a node holding ``data`` is an implicit parent rather than a key."""
    return data == PARENT_MARK


def held_parent(read: Any, deadline: float) -> bool:
    """Whether the pending ``get_async`` ``read`` found an implicit parent (False if it
    found a key, no node, or failed: then the caller's own request tells)."""
    try:
        data, _ = wait(read, deadline)
    except Exception:  # noqa: BLE001 - the request sent behind this read reports the failure
        return False
    return is_parent(data)


def to_entry(path: str, data: bytes | None, stat: ZnodeStat) -> Entry:
    """coordkit's view of a znode: version counts from 1, revisions are zxids, the lease is
    the owning session of an ephemeral node."""
    return Entry(
        key=path,
        value=bytes(data or b""),
        version=stat.version + 1,
        create_revision=stat.czxid,
        mod_revision=stat.mzxid,
        lease=stat.ephemeralOwner,
    )


def wait(result: Any, deadline: float) -> Any:
    """The value of a kazoo async result, raising kazoo's timeout error at ``deadline``."""
    return result.get(timeout=max(0.0, deadline - time.monotonic()))


def read_nodes(
    client: KazooClient,
    paths: Sequence[str],
    deadline: float,
    *,
    watcher: Watcher | None = None,
    containers: frozenset[str] = frozenset(),
) -> dict[str, NodeRead | None]:
    """Read data, stat and children of every path in one pipelined round trip.

    A path maps to None when it does not exist. With ``watcher``, a data watch and a child
    watch are left on every node read; for ``containers`` the data read is replaced by an
    ``exists`` whose watch also fires when an absent node is created.
    """
    sent = []
    for path in paths:
        if path in containers:
            first = client.exists_async(path, watch=watcher)
        else:
            first = client.get_async(path, watch=watcher)
        kids = client.get_children_async(path, watch=watcher)
        sent.append((path, first, kids))
    found: dict[str, NodeRead | None] = {}
    for path, first, kids in sent:
        try:
            head = wait(first, deadline)
            names = wait(kids, deadline)
        except NoNodeError:
            head = None
        if head is None:  # a missing container reads as None from exists, not NoNodeError
            found[path] = None
        elif path in containers:
            found[path] = NodeRead(b"", head, list(names))
        else:
            found[path] = NodeRead(bytes(head[0] or b""), head[1], list(names))
    return found


def read_data(client: KazooClient, paths: Sequence[str], deadline: float) -> dict[str, NodeRead | None]:
    """Data and stat of every path (no children) in one pipelined round trip; None: absent."""
    sent = [(path, client.get_async(path)) for path in paths]
    found: dict[str, NodeRead | None] = {}
    for path, result in sent:
        try:
            data, stat = wait(result, deadline)
            found[path] = NodeRead(bytes(data or b""), stat, [])
        except NoNodeError:
            found[path] = None
    return found


def read_key(client: KazooClient, path: str, deadline: float, watcher: Watcher | None) -> Entry | None:
    """Read one key and leave a watch that fires on its creation, change or deletion.

    ``exists`` goes first because only it leaves a watch on an absent node; the ``get`` sent
    right behind it gives the data. A change between the two fires the watch again.
    """
    probe = client.exists_async(path, watch=watcher)
    data = client.get_async(path)
    wait(probe, deadline)
    try:
        value, stat = wait(data, deadline)
    except NoNodeError:
        return None
    return None if is_parent(value) else to_entry(path, value, stat)


Levels = list[list[tuple[str, NodeRead]]]


def read_levels(
    client: KazooClient, root: str, deadline: float, *, chrooted: bool
) -> tuple[NodeRead | None, Levels]:
    """The root's read and every level below it, breadth first. Nodes that vanish meanwhile
    are left out.

    Each level takes two pipelined round trips: the data of every node, then the children
    of those whose stat says they have any. kazoo spends about a quarter of a round trip
    on each request, so skipping the leaves' children reads halves a wide tree's time.
    """
    top = read_nodes(client, [root], deadline)[root]
    levels: Levels = []
    frontier = [child_path(root, n) for n in visible(root, top.children, chrooted=chrooted)] if top else []
    while frontier:
        sent = [(p, client.get_async(p)) for p in frontier]
        level: list[tuple[str, NodeRead]] = []
        for path, result in sent:
            with contextlib.suppress(NoNodeError):
                data, stat = wait(result, deadline)
                level.append((path, NodeRead(bytes(data or b""), stat, [])))
        listed = [(i, client.get_children_async(p)) for i, (p, r) in enumerate(level) if r.stat.numChildren]
        for i, result in listed:
            with contextlib.suppress(NoNodeError):
                path, node = level[i]
                level[i] = (path, NodeRead(node.data, node.stat, sorted(wait(result, deadline))))
        levels.append(level)
        frontier = [child_path(p, n) for p, r in level for n in r.children]
    return top, levels


def get_entry(client: KazooClient, path: str, deadline: float) -> Entry | None:
    try:
        data, stat = wait(client.get_async(path), deadline)
    except NoNodeError:
        return None
    return None if is_parent(data) else to_entry(path, data, stat)


def list_children(client: KazooClient, path: str, deadline: float, *, chrooted: bool) -> list[str]:
    try:
        return visible(path, wait(client.get_children_async(path), deadline), chrooted=chrooted)
    except NoNodeError:
        return []


def read_tree(client: KazooClient, root: str, deadline: float, *, chrooted: bool) -> tuple[list[Entry], int]:
    """Every entry strictly below ``root`` (implicit parents are no entries), sorted, and
    the largest zxid read (czxid, mzxid and pzxid, so a child deleted since the nodes were
    written counts). An absent root gives the zxid at which the server answered that it is
    absent."""
    top, levels = read_levels(client, root, deadline, chrooted=chrooted)
    if top is None:
        return [], client.last_zxid
    entries = [to_entry(p, r.data, r.stat) for level in levels for p, r in level if not is_parent(r.data)]
    revision = max([top.max_zxid()] + [r.max_zxid() for level in levels for _, r in level])
    return sorted(entries, key=lambda e: e.key), revision
