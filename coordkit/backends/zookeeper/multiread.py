"""Many reads in one request on ZooKeeper 3.6+: ``multiRead`` (opcode 22), a kazoo protocol object.

kazoo spends about a quarter of a round trip of Python on every request it sends, so a
level of 1,000 nodes read node by node costs far more than its one pipelined round trip.
``multiRead`` carries ``getData`` (4) and ``getChildren`` (8) requests as one, in the
framing of a write multi (a header ``type, done=False, err=-1`` before each op, a
``-1, True, -1`` header at the end); the server answers each op, a failed one with an
error result (type -1 and its code) without failing the others. It needs a 3.6+ server,
which a persistent watch already proved (only watches under one use it). On failure of the
request the reads raise kazoo's own error.
"""

from __future__ import annotations

import contextlib
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import EXCEPTIONS, NoNodeError
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.serialization import (
    MultiHeader,
    int_struct,
    multiheader_struct,
    read_buffer,
    read_string,
    stat_struct,
    write_string,
)
from kazoo.protocol.states import ZnodeStat

from .read import Levels, NodeRead, child_path, visible, wait

__all__ = ["MultiRead", "read_levels_multi"]

GET_DATA, GET_CHILDREN, ERROR = 4, 8, -1
CHUNK = 200  # ops per request: the reply of one request stays far below any buffer limit


class MultiRead(namedtuple("MultiRead", "ops")):
    """``ops``: ``(type, full path)`` pairs; the reply is one result per op, in order:
    ``(data, stat)``, a list of child names, or a kazoo exception instance."""

    type = 22

    def serialize(self) -> bytearray:
        b = bytearray()
        for kind, path in self.ops:
            b.extend(multiheader_struct.pack(kind, False, -1))
            b.extend(write_string(path))
            b.append(0)  # no watch
        b.extend(multiheader_struct.pack(-1, True, -1))
        return b

    @classmethod
    def deserialize(cls, bytes: bytes, offset: int) -> list[Any]:
        results: list[Any] = []
        header, offset = MultiHeader.deserialize(bytes, offset)
        while not header.done:
            if header.type == GET_DATA:
                data, offset = read_buffer(bytes, offset)
                results.append((data, ZnodeStat._make(stat_struct.unpack_from(bytes, offset))))
                offset += stat_struct.size
            elif header.type == GET_CHILDREN:
                (count,) = int_struct.unpack_from(bytes, offset)
                offset += int_struct.size
                names = []
                for _ in range(count):
                    name, offset = read_string(bytes, offset)
                    names.append(name)
                results.append(names)
            else:  # an error result: its code
                (err,) = int_struct.unpack_from(bytes, offset)
                offset += int_struct.size
                results.append(EXCEPTIONS[err]())
            header, offset = MultiHeader.deserialize(bytes, offset)
        return results


def _read_many(client: KazooClient, ops: Sequence[tuple[int, str]], deadline: float) -> list[Any]:
    """One result per ``(type, path)`` (see ``MultiRead``), chunked, all sent before any wait."""
    sent = []
    for start in range(0, len(ops), CHUNK):
        result = client.handler.async_result()
        chunk = [(kind, _prefix_root(client.chroot, p)) for kind, p in ops[start : start + CHUNK]]
        client._call(MultiRead(chunk), result)
        sent.append(result)
    return [item for result in sent for item in wait(result, deadline)]


def read_levels_multi(
    client: KazooClient, root: str, deadline: float, *, chrooted: bool
) -> tuple[NodeRead | None, Levels]:
    """What ``read.read_levels`` returns, each level in one multiRead of the data and one of
    the listings of nodes that have children. A node that vanished meanwhile is left out."""
    top_data, top_kids = _read_many(client, [(GET_DATA, root), (GET_CHILDREN, root)], deadline)
    if isinstance(top_data, NoNodeError) or isinstance(top_kids, NoNodeError):
        return None, []
    for result in (top_data, top_kids):
        if isinstance(result, Exception):
            raise result
    top = NodeRead(bytes(top_data[0] or b""), top_data[1], list(top_kids))
    levels: Levels = []
    frontier = [child_path(root, n) for n in visible(root, top.children, chrooted=chrooted)]
    while frontier:
        level: list[tuple[str, NodeRead]] = []
        for path, found in zip(
            frontier, _read_many(client, [(GET_DATA, p) for p in frontier], deadline), strict=True
        ):
            if isinstance(found, Exception) and not isinstance(found, NoNodeError):
                raise found
            if not isinstance(found, Exception):
                level.append((path, NodeRead(bytes(found[0] or b""), found[1], [])))
        parents = [i for i, (_, node) in enumerate(level) if node.stat.numChildren]
        listings = _read_many(client, [(GET_CHILDREN, level[i][0]) for i in parents], deadline)
        for i, names in zip(parents, listings, strict=True):
            with contextlib.suppress(NoNodeError):
                if isinstance(names, Exception):
                    raise names
                path, node = level[i]
                level[i] = (path, NodeRead(node.data, node.stat, sorted(names)))
        levels.append(level)
        frontier = [child_path(p, n) for p, r in level for n in r.children]
    return top, levels
