"""The reads of a persistent watch's worker: the data of each node notified, sent as the
notifications come.

ZooKeeper sends the notifications of one multi one by one (a register that creates the
service's node and the instance's is two; a config change writes its keys and its marker),
and kazoo's reader thread queues them one by one. Each notification's read is sent by the
reader thread itself as it routes it (``Armed``: the item's fourth field), or is spared
when the change is this session's own write (:mod:`.own_writes`). :func:`read_notified`
waits for the first read of a batch to be answered, then takes into the batch every
notification queued by then (the rest of that change: ZooKeeper sent them back to back, a
round trip ago), whose reads are already out: the batch costs one round trip however its
notifications were split, and is delivered whole.

On failure: what a read raises (kazoo's errors, its timeout at the deadline) is raised; the
worker then re-reads the whole subtree, so no notification taken here is needed again. A
notification for a node already read in this batch is not folded into it (its read may
predate that change): it is left for the next batch, and so is every notification after it,
so that the changes of two batches are still delivered in the store's order.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Mapping
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from .read import NodeRead, wait

__all__ = ["drain", "read_notified"]


def drain(events: queue.SimpleQueue[object]) -> list[object]:
    """Every item queued now, without waiting."""
    items: list[object] = []
    with contextlib.suppress(queue.Empty):
        while True:
            items.append(events.get_nowait())
    return items


def read_notified(
    client: KazooClient,
    paths: Mapping[str, Any],
    deadline: float,
    events: queue.SimpleQueue[object],
    wanted: Callable[[str], bool],
) -> tuple[dict[str, NodeRead | None], list[Any], list[object]]:
    """Data and stat of ``paths`` and of the ``wanted`` nodes notified in ``events`` by the
    time the first of these reads is answered (about one round trip). A path's value, or a
    notification's fourth item, is its read already sent (see ``Armed``), or None: it is
    sent now. Returns the reads (None: absent), the notifications taken and read, and the
    items left for the next batch."""
    sent = {path: read if read is not None else client.get_async(path) for path, read in paths.items()}
    taken: list[Any] = []
    later: list[object] = []
    if sent:  # the first reply comes behind every notification that ZooKeeper sent before it
        next(iter(sent.values())).wait(max(0.0, deadline - time.monotonic()))  # the wait below raises
        for item in drain(events):
            if isinstance(item, tuple) and not later and wanted(item[0]) and item[0] not in sent:
                taken.append(item)
                sent[item[0]] = item[3] if len(item) > 3 else client.get_async(item[0])
            else:
                later.append(item)  # and all after it, so that changes are delivered in store order
    found: dict[str, NodeRead | None] = {}
    for path, result in sent.items():
        try:
            data, stat = wait(result, deadline)
            found[path] = NodeRead(bytes(data or b""), stat, [])
        except NoNodeError:
            found[path] = None
    return found, taken, later
