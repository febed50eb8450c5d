"""Implicit parents on ZooKeeper: the nodes that coordkit creates above a key so that the key
can exist, which are not keys themselves (their data is ``PARENT_MARK``; they read as absent).

ZooKeeper needs every ancestor of a node to exist; etcd and memory:// have a flat keyspace.
These helpers keep the two models one: parents are made in one pipelined round trip, and
removed again, pinned to the version read, once no child is left. A key created below
parents this backend removed itself goes with them in one multi at once
(:class:`PrunedParents`), rather than learning from a failed create that they are missing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Sequence

import kazoo.exceptions as ke
from kazoo.client import KazooClient

from ..base import Entry
from .errors import TRANSLATED
from .read import PARENT_MARK, Levels, is_parent, wait

__all__ = [
    "PrunedParents",
    "create_with_parents",
    "delete_levels",
    "make_parents",
    "missing_parents",
    "prune_parents",
]

log = logging.getLogger(__name__)
_REMEMBERED = 1024  # pruned parents kept in mind; the oldest is forgotten first


class PrunedParents:
    """The implicit parents this backend removed lately: a guess, never a fact. Another
    client may have created one since, or removed an ancestor; a multi built on the guess
    then fails as a whole (nothing written) and the write goes the usual way."""

    def __init__(self) -> None:
        self._paths: dict[str, None] = {}  # insertion-ordered: the oldest first
        self._lock = threading.Lock()

    def note(self, paths: Iterable[str]) -> None:
        with self._lock:
            for path in paths:
                self._paths.pop(path, None)
                self._paths[path] = None
            while len(self._paths) > _REMEMBERED:
                del self._paths[next(iter(self._paths))]

    def forget(self, paths: Iterable[str]) -> None:
        with self._lock:
            for path in paths:
                self._paths.pop(path, None)

    def above(self, path: str) -> list[str]:
        """The removed ancestors of ``path`` from its parent upward as long as they are
        removed ones, listed parents first (the order a multi creates them in)."""
        found: list[str] = []
        parent = path.rsplit("/", 1)[0]
        with self._lock:
            while parent and parent in self._paths:
                found.append(parent)
                parent = parent.rsplit("/", 1)[0]
        return found[::-1]


def create_with_parents(
    client: KazooClient,
    path: str,
    value: bytes,
    *,
    ephemeral: bool,
    parents: Sequence[str],
    session_id: int,
    deadline: float,
) -> Entry | None:
    """Create ``parents`` (as implicit parents, parents first) and the key in one multi: one
    round trip, as the key's stat is read right behind it on the same session. None if the
    multi failed (a parent exists, an ancestor is missing, the key exists): then nothing
    was written. Raises kazoo's exceptions for a failed link (the multi may have happened)."""
    tx = client.transaction()
    for parent in parents:
        tx.create(parent, PARENT_MARK)
    tx.create(path, value, ephemeral=ephemeral)
    pending = tx.commit_async()
    read = client.get_async(path)  # answered right after the multi: the created node's stat
    if any(isinstance(result, Exception) for result in wait(pending, deadline)):
        return None
    try:
        zxid = wait(read, deadline)[1].czxid
    except TRANSLATED as exc:  # deleted already, or the link dropped: the create did happen
        log.debug("coordkit: reading back %s failed: %r", path, exc)
        zxid = client.last_zxid
    return Entry(path, bytes(value), 1, zxid, zxid, session_id if ephemeral else 0)


def missing_parents(client: KazooClient, paths: Sequence[str], deadline: float) -> list[str]:
    """Ancestors of ``paths`` that do not exist, parents before children (one round trip)."""
    ancestors: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        ancestors.update("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))
    ordered = sorted(ancestors, key=lambda p: (p.count("/"), p))
    probes = [client.exists_async(p) for p in ordered]
    return [p for p, probe in zip(ordered, probes, strict=True) if wait(probe, deadline) is None]


def make_parents(client: KazooClient, path: str, deadline: float) -> None:
    """Make sure ``path`` and its ancestors exist, creating the missing ones as implicit
    parents (kazoo's ``ensure_path`` would create them as empty nodes, which are keys): one
    pipelined round trip, as ZooKeeper applies the creates in order, parents first. Raises
    kazoo's exceptions, except NodeExistsError: a node that exists already, key or not, is
    left as it is."""
    parts = path.strip("/").split("/")
    sent = [client.create_async("/" + "/".join(parts[: i + 1]), PARENT_MARK) for i in range(len(parts))]
    for result in sent:
        with contextlib.suppress(ke.NodeExistsError):
            wait(result, deadline)


def prune_parents(
    client: KazooClient, paths: Sequence[str], deadline: float, *, pruned: PrunedParents | None = None
) -> None:
    """Remove the implicit parents of ``paths`` left without children, deepest first. Each
    removal is pinned to the version read and refused by ZooKeeper if a child appeared, so it
    can never remove a key or a parent in use. Best effort: a failure leaves an empty implicit
    parent, which reads as absent. Each one removed is noted in ``pruned``."""
    seen: set[str] = set()
    for path in paths:
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in seen:
            seen.add(parent)
            try:
                data, stat = wait(client.get_async(parent), deadline)
                if not is_parent(data) or stat.numChildren:
                    break
                wait(client.delete_async(parent, version=stat.version), deadline)
                if pruned is not None:
                    pruned.note([parent])
            except (ke.NoNodeError, ke.NotEmptyError, ke.BadVersionError):
                break
            except TRANSLATED as exc:
                log.debug("coordkit: could not remove the empty parent %s: %r", parent, exc)
                return
            parent = parent.rsplit("/", 1)[0]


def delete_levels(client: KazooClient, levels: Levels, deadline: float) -> None:
    """Delete a tree read by ``read_levels``, deepest level first, each level pipelined.
    Nodes already gone are fine; one that gained children is left for the caller's retry."""
    for level in reversed(levels):
        sent = [client.delete_async(path) for path, _ in level]
        for result in sent:
            with contextlib.suppress(ke.NoNodeError, ke.NotEmptyError):
                wait(result, deadline)
