"""The reads of a persistent watch's worker: the data of each node notified, pipelined as the
notifications come.

ZooKeeper sends the notifications of one multi one by one (a register that creates the
service's node and the instance's is two; a config change writes its keys and its marker),
and kazoo's reader thread queues them one by one, so the worker often wakes for the first
alone. Rather than wait for that read's reply and only then read the nodes notified
meanwhile (one more round trip), :func:`read_notified` keeps taking notifications while the
first reply is outstanding and sends each one's read at once: the batch costs one round trip
however its notifications were split. A notification of this session's own write in flight
carries that write's outcome instead (:mod:`.own_writes`), and is not read at all.

The batch takes notifications until its first read is answered (so about one round trip of
them, then it is delivered); that reply is a marker in the worker's own queue
(:data:`READ_DONE`), so that one blocking wait sees both. The first read's answer object puts
the marker as kazoo's reader thread sets the reply: one thread hop to the worker. (A
``rawlink`` callback runs on kazoo's completion thread: one hop more, on the path of every
change a watch delivers; from the reply to the worker, a median of 110 us with it and 50-65
us without, on two cores that also run the server.)
Most notifications come with their read sent by kazoo's reader thread as it routed them, and
answered (:mod:`.prefetch`): then nothing is waited for. The worker sends the other reads
itself, never from the reader thread (whose ``_call`` could block on the wake-up pipe that
only that thread drains).

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
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.serialization import GetData

from .own_writes import Written
from .prefetch import READ_DONE, Prefetched, Prefetcher, Signalling
from .read import NodeRead, wait

__all__ = ["READ_DONE", "drain", "read_notified"]


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
    prefetcher: Prefetcher | None = None,
) -> tuple[dict[str, NodeRead | None], list[Any], list[object]]:
    """Data and stat of ``paths`` and of the ``wanted`` nodes notified in ``events`` until the
    first of these reads is answered (about one round trip), each read sent as soon as it is
    known. A path's value, or a notification's fourth item, is the outcome of this session's
    own write of it (see ``Armed``), its prefetched read, or None: it is read (and so is a
    prefetched read or an own write's outcome no longer fresh, see ``Prefetcher.fresh``;
    ``prefetcher`` is told of the reads sent here). Returns
    the reads (None: absent), the notifications taken and read, and the items left for the
    next batch."""
    sent: dict[str, Any] = {}
    taken: list[Any] = []
    later: list[object] = []
    own: list[str] = []  # the paths this worker reads itself

    def read(path: str, written: Any, done: queue.SimpleQueue[object] | None = None) -> Any:
        if prefetcher is not None and not prefetcher.fresh(written):
            written = None  # older than a read of the worker's: read it again
        if written is None:
            own.append(path)
        return _read(client, path, written, done)

    def take(item: object) -> None:
        if isinstance(item, tuple) and not later and wanted(item[0]) and item[0] not in sent:
            taken.append(item)
            sent[item[0]] = read(item[0], item[3] if len(item) > 3 else None)
        elif item is not READ_DONE:  # a marker: maybe an earlier batch's
            later.append(item)  # and all after it, so that changes are delivered in store order

    found: dict[str, NodeRead | None] = {}
    try:
        _send_and_take(paths, sent, events, deadline, read, take)
        for path, result in sent.items():
            try:
                data, stat = wait(result, deadline)
                found[path] = NodeRead(bytes(data or b""), stat, [])
            except NoNodeError:
                found[path] = None
    finally:  # once queued (see Prefetched.fresh), an own write's fallback read included
        if prefetcher is not None and (
            own or any(isinstance(r, Written) and r.fell_back for r in sent.values())
        ):
            prefetcher.worker_read()
    return found, taken, later


def _send_and_take(
    paths: Mapping[str, Any],
    sent: dict[str, Any],
    events: queue.SimpleQueue[object],
    deadline: float,
    read: Callable[..., Any],
    take: Callable[[object], None],
) -> None:
    """Send the reads of ``paths`` (the first signals its reply in ``events``), then take
    notifications until that first read is answered."""
    for path, written in paths.items():
        sent[path] = read(path, written, None if sent else events)
    if not sent:
        return
    first = next(iter(sent.values()))
    for item in drain(events):
        take(item)
    while not first.ready():
        try:
            take(events.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            break  # the wait below raises kazoo's timeout


def _read(client: KazooClient, path: str, written: Any, done: queue.SimpleQueue[object] | None = None) -> Any:
    """The node's data as an async result: this session's own write of it, the read sent as
    it was notified (:mod:`.prefetch`: answered already), or a read. With ``done``,
    :data:`READ_DONE` is put there once it is answered (not for a prefetched read, ready)."""
    if isinstance(written, Prefetched):
        return written.result
    if written is not None:
        if done is not None:  # kazoo's own result: its callbacks run on its completion thread
            written.rawlink(lambda _: done.put(READ_DONE))  # at once if answered already
        return written
    if done is None:
        return client.get_async(path)
    result = client.handler.async_result()
    client._call(
        GetData(_prefix_root(client.chroot, path), None), Signalling(result, lambda: done.put(READ_DONE))
    )
    return result
