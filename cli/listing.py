"""What ``coordkit ls`` shows: the keys below a path arranged as a tree of names.

A store is a flat set of keys on etcd and a tree of nodes on ZooKeeper; the listing
presents both the same way. A name with keys below it is a "directory" (shown with a
trailing ``/``) whether or not it is also a key itself. Names are shown relative to the
path asked, whatever its spelling (``nc/rel`` and ``/nc/rel`` list the same keys on
ZooKeeper); each node knows its full name as the store spells it (``--json``). At the root
of an etcd store without a namespace, where ``x/k`` and ``/x/k`` are two keys, a store
holding both spellings shows its top-level names as spelled (``x/`` and ``/x/``).

A directory whose children all look like the contenders of a lock, semaphore or election
is shown as a queue: its children in queue order, the head marked as holder and each
other as waiting, with its fencing token. Contenders are ephemeral leaves named as the
wire layouts name them: ``<lease id hex>`` (etcd's ``concurrency`` package, ``etcdctl
lock``/``elect``) or ``<lease hex>-<hex>`` (semaphores, the memory store); on ZooKeeper
``...-lock-<10 digits>`` (Curator, coordkit) or ``...__lock__<10 digits>`` (kazoo).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from coordkit import Entry

from .output import key_fields, preview, printable, value_fields

__all__ = [
    "Node",
    "build_tree",
    "child_lines",
    "describe",
    "mark_queues",
    "node_fields",
    "tree_lines",
    "walk",
]

_MAX_ALIGN = 32  # beyond this a long name would push every value off the screen
_BRANCH, _LAST, _PIPE, _SPACE = "├── ", "└── ", "│   ", "    "


@dataclass
class Node:
    name: str  # the last segment, as shown
    key: str  # the full name, as a command would accept it
    entry: Entry | None = None  # None when only keys below it exist
    children: dict[str, Node] = field(default_factory=dict)
    rank: int | None = None  # place in a contender queue, 0 for the holder

    def child(self, name: str, key: str) -> Node:
        """The child called ``name`` (shown) whose full name is ``key`` (as stored)."""
        if name not in self.children:
            self.children[name] = Node(name, key)
        return self.children[name]

    def sorted_children(self) -> list[Node]:
        """By name; a queue's contenders in queue order (ahead of any that left meanwhile)."""
        return sorted(self.children.values(), key=lambda n: (n.rank is None, n.rank or 0, n.name))


def _split(path: str, key: str, *, spelled: bool) -> tuple[str, list[str]]:
    """``(base, segments)`` of ``key`` below ``path``: ``key`` is ``base`` followed by the
    segments joined by ``/``. ``path`` is as the user typed it, ``key`` as the store spells it
    (ZooKeeper and namespaces give ``/nc/rel/x`` for ``nc/rel``). With ``spelled`` (the root
    of an etcd store that holds keys with and without a leading slash) the first segment
    keeps the key's own spelling, so that ``x/k`` and ``/x/k`` stay two names."""
    if path == "/":
        if spelled:
            slash = key.startswith("/")
            segments = key.removeprefix("/").split("/")
            segments[0] = "/" * slash + segments[0]
            return "", segments
        return ("/" if key.startswith("/") else ""), key.lstrip("/").split("/")
    for prefix in (path.rstrip("/") + "/", "/" + path.strip("/") + "/"):
        if key.startswith(prefix):
            return prefix, key[len(prefix) :].split("/")
    raise ValueError(f"{key!r} is not below {path!r}")


def build_tree(path: str, entries: list[Entry]) -> Node:
    """Arrange ``entries`` (every key strictly below ``path``) under a root node for ``path``;
    each node's ``key`` is its full name as the store spells it."""
    root = Node(path, path)
    spelled = path == "/" and any(not e.key.startswith("/") for e in entries)
    for entry in entries:
        base, segments = _split(path, entry.key, spelled=spelled)
        node = root
        for depth, segment in enumerate(segments):
            node = node.child(segment, base + "/".join(segments[: depth + 1]))
        node.entry = entry
    return root


def label(node: Node) -> str:
    """``name``, ``name/`` for a directory; the value preview comes separately. A name
    written by another tool may hold a newline or bytes that are not UTF-8: escaped."""
    return printable(node.name) + ("/" if node.children else "")


def _shows_value(node: Node) -> bool:
    # A ZooKeeper parent node holds an empty value nobody wrote: showing `= ""` on every
    # directory would be noise. An empty value on a leaf is information.
    return node.entry is not None and (bool(node.entry.value) or not node.children)


def _suffix(node: Node) -> str:
    if node.rank is not None and node.entry is not None:
        role = "holder" if node.rank == 0 else f"waiting #{node.rank}"
        return f"  ({role}, token {node.entry.create_revision})"
    return "  (ephemeral)" if node.entry is not None and node.entry.ephemeral else ""


def describe(node: Node, width: int = 0) -> str:
    """One line for a node: name, value preview, ephemeral mark; names padded to ``width``."""
    if not _shows_value(node):
        return label(node) + _suffix(node)
    assert node.entry is not None
    return f"{label(node).ljust(width)} = {preview(node.entry.value)}{_suffix(node)}"


def _value_column(siblings: list[Node]) -> int:
    width = max((len(label(n)) for n in siblings if _shows_value(n)), default=0)
    return min(width, _MAX_ALIGN)


def child_lines(root: Node) -> list[str]:
    """``ls PATH``: the immediate children, values aligned on their ``=``."""
    children = root.sorted_children()
    width = _value_column(children)
    return [describe(child, width) for child in children]


def tree_lines(root: Node) -> Iterator[str]:
    """``ls -r PATH``: the path, then everything below it drawn like ``tree``."""
    yield printable(root.key)
    yield from _branches(root, "")


def _branches(node: Node, indent: str) -> Iterator[str]:
    children = node.sorted_children()
    width = _value_column(children)
    for index, child in enumerate(children):
        last = index == len(children) - 1
        yield indent + (_LAST if last else _BRANCH) + describe(child, width)
        yield from _branches(child, indent + (_SPACE if last else _PIPE))


def node_fields(node: Node) -> dict[str, Any]:
    """A node as ``ls --json`` prints it; a name that is not a key has null fields."""
    entry = node.entry
    data: dict[str, Any] = key_fields(entry.key if entry is not None else node.key)
    if entry is None:
        data.update(
            value=None, encoding=None, version=None, create_revision=None, mod_revision=None, ephemeral=False
        )
    else:
        data.update(value_fields(entry.value))
        data.update(
            version=entry.version,
            create_revision=entry.create_revision,
            mod_revision=entry.mod_revision,
            ephemeral=entry.ephemeral,
        )
    data["has_children"] = bool(node.children)
    if node.rank is not None:
        data.update(queue_position=node.rank, holder=node.rank == 0)
    return data


def walk(node: Node) -> Iterator[Node]:
    """Every node below ``node``, depth first, siblings in name order (as ``tree`` shows them)."""
    for child in node.sorted_children():
        yield child
        yield from walk(child)


# --- contender queues -------------------------------------------------------------------
def _looks_like_contender(node: Node, names: re.Pattern[str]) -> bool:
    entry = node.entry
    if entry is None or node.children or not entry.ephemeral:
        return False
    return names.fullmatch(node.name) is not None


def mark_queues(
    root: Node, names: re.Pattern[str], queue_order: Callable[[str], list[str]], *, recursive: bool
) -> None:
    """Rank the children of ``root`` if it is a contender queue (with ``recursive``, of
    every queue below it too: one read per queue).

    ``names`` is how the backend names contenders (its capabilities' ``contender_names``);
    ``queue_order(path)`` returns the names of the contenders under ``path`` in queue order, as the backend
    orders them. Contenders that left after the tree was read stay unranked.
    """
    for node in [root, *walk(root)] if recursive else [root]:
        kids = list(node.children.values())
        if not kids or not all(_looks_like_contender(kid, names) for kid in kids):
            continue
        entry = kids[0].entry
        assert entry is not None
        # The stored spelling of the queue's path ("x" or "/x" at an etcd root), not the shown one.
        path = entry.key.rsplit("/", 1)[0] or "/"
        for rank, name in enumerate(queue_order(path)):
            if name in node.children:
                node.children[name].rank = rank
