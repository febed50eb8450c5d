"""Implicit parents on ZooKeeper: the nodes that coordkit creates above a key so that the key
can exist, which are not keys themselves (their data is ``PARENT_MARK``; they read as absent).

ZooKeeper needs every ancestor of a node to exist; etcd and memory:// have a flat keyspace.
These helpers keep the two models one: parents are made in one pipelined round trip, and
removed again, pinned to the version read, once no child is left.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import kazoo.exceptions as ke
from kazoo.client import KazooClient

from .errors import TRANSLATED
from .read import PARENT_MARK, Levels, is_parent, wait

__all__ = ["delete_levels", "make_parents", "missing_parents", "prune_parents"]

log = logging.getLogger(__name__)


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


def prune_parents(client: KazooClient, paths: Sequence[str], deadline: float) -> None:
    """Remove the implicit parents of ``paths`` left without children, deepest first. Each
    removal is pinned to the version read and refused by ZooKeeper if a child appeared, so it
    can never remove a key or a parent in use. Best effort: a failure leaves an empty implicit
    parent, which reads as absent."""
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
