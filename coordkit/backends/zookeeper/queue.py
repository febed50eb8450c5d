"""Contender queues on ZooKeeper (locks, semaphores, elections) in Apache Curator's layout.

Layout: a contender is an ephemeral-sequential node ``<path>/_c_<uuid>-lock-<seq>`` whose data
is the contender's value (a lock's identity, a candidate's proposal), exactly what Curator's
``InterProcessMutex`` and ``LeaderSelector`` write. The queue is every child whose name ends
with ``-lock-<10 digits>`` (Curator, coordkit) or ``__lock__<10 digits>`` (kazoo's ``Lock``),
ordered by that sequence number; other children are not contenders. ZooKeeper numbers the
children of one parent from a single counter, so the numbers of all three kinds compare.
The queue's node and its ancestors, when coordkit creates them, are implicit parents (see
:mod:`coordkit.backends.zookeeper.backend`): ``get("orders/42")`` finds no key there, as on etcd.

Joining takes one round trip: the create and the children read are both sent before either
answer is awaited, and ZooKeeper executes one session's requests in order, so the list
already holds the new node. The create returns the node's stat, whose czxid is the fencing
token. A create cut by a lost connection may have been applied or not; the uuid in the name
lets the retry look for the node among the children and adopt it, instead of adding a
second contender that would stay queued, unseen by us, until the session ends (the trick
Curator calls "protection" and kazoo's ``Lock`` uses for the same reason).

Interoperability: Curator orders every child of the lock path by the text after ``lock-``,
so coordkit's nodes and Curator's exclude each other both ways. kazoo's ``Lock`` counts only
the children matching its own ``__lock__`` pattern: with its defaults it does not see
coordkit's (or Curator's) contenders, and both can hold "the same" lock at once. A kazoo
lock sharing a path with coordkit must be made as
``kazoo.recipe.lock.Lock(zk, path, extra_lock_patterns=["-lock-"])``; coordkit respects
kazoo's contenders without any option. (Curator sorts kazoo's names, which lack ``lock-``,
by their whole text, so kazoo and Curator themselves do not exclude each other reliably.)

:class:`ContenderQueues` is the part of :class:`~coordkit.backends.zookeeper.backend.ZooKeeperBackend`
that implements the queue protocol; the functions under it take a kazoo client and a deadline
and raise kazoo's exceptions, which :class:`.calls.ClientCalls` translates.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import ZnodeStat

from ..contender_queue import Contender, QueueView
from .calls import ClientCalls
from .parents import make_parents
from .read import child_path, wait
from .wait_gone import wait_any_gone, wait_gone

__all__ = [
    "CONTENDER",
    "ContenderQueues",
    "QueueJoin",
    "leave_queue",
    "list_queue",
    "relative_view",
    "update_contender",
]

T = TypeVar("T")
K = TypeVar("K")

# Curator's "-lock-" (coordkit's too) or kazoo's "__lock__", then the 10-digit sequence.
CONTENDER = re.compile(r"(?:-lock-|__lock__)(\d{10})$")
_PARENT_RACES = 3  # joins that may find the queue's parent missing before the last try


def _ordered(parent: str, names: Iterable[str]) -> list[Contender]:
    """The contenders among ``names`` by sequence number (without values)."""
    found = []
    for name in names:
        match = CONTENDER.search(name)
        if match is not None:
            found.append(Contender(child_path(parent, name), int(match.group(1)), 0, b"", 1))
    return sorted(found, key=lambda c: c.sequence)


def _contender(path: str, data: bytes | None, stat: ZnodeStat) -> Contender:
    match = CONTENDER.search(path)
    assert match is not None, path  # only called on nodes of our own layout or listed ones
    return Contender(path, int(match.group(1)), stat.czxid, bytes(data or b""), stat.version + 1)


class QueueJoin:
    """One contender joining the queue at ``parent``: :meth:`attempt` may be called again
    after a lost connection, and then finds the node an earlier attempt created."""

    def __init__(self, parent: str, value: bytes, *, protection: str | None = None) -> None:
        self.parent = parent
        self.value = value
        self.protection = protection or str(uuid.uuid4())  # Curator's form: the dashed uuid
        self.prefix = f"_c_{self.protection}-lock-"
        self.sent = False  # a create was sent: a later attempt must look for it first
        self.created = ""  # the node this join made or adopted, once answered

    def attempt(self, client: KazooClient, deadline: float) -> QueueView:
        """Join (one round trip), or adopt the node of an earlier attempt (two). The requests
        are sent from here, so that a lock's acquire reaches kazoo in few frames."""
        if self.sent:
            found = self._find(client, deadline)
            if found is not None:
                return found
        self.sent = True  # a create is sent: a later attempt must look for it first
        for race in range(_PARENT_RACES + 1):
            created = client.create_async(
                child_path(self.parent, self.prefix),
                self.value,
                ephemeral=True,
                sequence=True,
                include_data=True,
            )
            listed = client.get_children_async(self.parent, include_data=True)
            try:
                made = wait(created, deadline)
                return self.answered(made, wait(listed, deadline))
            except NoNodeError:  # the queue's parent does not exist (yet, or any more)
                if race == _PARENT_RACES:
                    raise
                # An implicit parent, not a key, as for any write; it can be pruned by a
                # delete below it before our create lands, hence the few rounds.
                make_parents(client, self.parent, deadline)
        raise AssertionError("unreachable: the last round returns or raises")

    def answered(self, created: tuple[str, ZnodeStat], listed: tuple[list[str], ZnodeStat]) -> QueueView:
        """The view from the replies of the create and of the children read sent behind it."""
        path, stat = created
        names, parent_stat = listed
        self.created = path
        return _view(
            _contender(path, self.value, stat), self.parent, names, max(parent_stat.pzxid, stat.czxid)
        )

    def _find(self, client: KazooClient, deadline: float) -> QueueView | None:
        """The node an earlier attempt of this join made in the current session (the first by
        sequence number; later ones are dropped). One made in a session since replaced is not
        adopted, even while the server still holds it: it goes with that session, and a place
        that vanished then would let the next contender in while we believe we hold it."""
        try:
            names, parent_stat = wait(client.get_children_async(self.parent, include_data=True), deadline)
        except NoNodeError:
            return None
        ours = sorted(
            (name for name in names if name.startswith(self.prefix)), key=lambda name: name.rsplit("-", 1)[-1]
        )  # by sequence number: a replaced session's nodes come before this one's
        session = client.client_id[0] if client.client_id else None
        for index, name in enumerate(ours):
            path = child_path(self.parent, name)
            try:
                data, stat = wait(client.get_async(path), deadline)
            except NoNodeError:  # gone with its session
                continue
            if stat.ephemeralOwner != session:
                continue  # an earlier session's: left to it
            for extra in ours[index + 1 :]:  # several attempts got through: keep the first
                client.delete_async(child_path(self.parent, extra))
            self.created = path
            return _view(_contender(path, data, stat), self.parent, names, max(parent_stat.pzxid, stat.mzxid))
        return None

    def remove(self, client: KazooClient, deadline: float) -> None:
        """Delete every node this join may have made (sent but unanswered ones too)."""
        try:
            names = wait(client.get_children_async(self.parent), deadline)
        except NoNodeError:
            return
        for name in names:
            if name.startswith(self.prefix):
                leave_queue(client, child_path(self.parent, name), deadline)


def _relative(contender: Contender) -> Contender:
    """The contender as reported above the backend: its znode path relative to the root (the
    chroot's, under a namespace), without the leading slash, as on every backend."""
    c = contender  # built directly: dataclasses.replace costs more than the fields
    return Contender(c.key.removeprefix("/"), c.sequence, c.create_revision, c.value, c.version)


def relative_view(view: QueueView) -> QueueView:
    """The view as reported above the backend (see :func:`_relative`)."""
    return QueueView(_relative(view.mine), [_relative(c) for c in view.contenders], view.revision)


def _view(mine: Contender, parent: str, names: Iterable[str], revision: int) -> QueueView:
    contenders = [mine if c.key == mine.key else c for c in _ordered(parent, names)]
    return QueueView(mine, contenders, revision)


def list_queue(
    client: KazooClient, parent: str, deadline: float, *, values: bool
) -> tuple[list[Contender], int]:
    """The queue at ``parent`` in order and the zxid it reflects: one children read, and with
    ``values`` one more pipelined round trip reading every contender (those that left
    meanwhile are dropped)."""
    try:
        names, parent_stat = wait(client.get_children_async(parent, include_data=True), deadline)
    except NoNodeError:
        return [], client.last_zxid
    order, revision = _ordered(parent, names), parent_stat.pzxid
    if not values:
        return order, revision
    reads = [(c, client.get_async(c.key)) for c in order]
    filled = []
    for listed, read in reads:
        try:
            data, stat = wait(read, deadline)
        except NoNodeError:
            continue
        revision = max(revision, stat.mzxid)
        filled.append(
            Contender(listed.key, listed.sequence, stat.czxid, bytes(data or b""), stat.version + 1)
        )
    return filled, revision


def update_contender(
    client: KazooClient, path: str, mine: Contender, value: bytes, deadline: float
) -> Contender:
    """Set our node's value at the version we know (BadVersionError, NoNodeError otherwise)."""
    stat = wait(client.set_async(path, value, version=mine.version - 1), deadline)
    return Contender(mine.key, mine.sequence, stat.czxid, value, stat.version + 1)


def leave_queue(client: KazooClient, path: str, deadline: float) -> None:
    """Delete our node; one that is gone already is fine. Sequential names are never reused,
    so deleting by name cannot hit a later contender."""
    with contextlib.suppress(NoNodeError):
        wait(client.delete_async(path), deadline)


def _remember(joins: dict[K, QueueJoin], key: K, join: QueueJoin) -> None:
    """Under the backend's ``_joins_lock``."""
    joins[key] = join
    while len(joins) > 1024:  # bounded: the oldest joins are long answered
        joins.pop(next(iter(joins)))


class ContenderQueues(ClientCalls):
    """The contender-queue calls of the ZooKeeper backend, each run by :class:`.calls.ClientCalls`.

    While SUSPENDED, joins, lists, leaves and waits are retried until the link comes back
    within the operation timeout, then raise BackendUnavailableError; a join (and an update)
    after the session expired raises SessionLostError.
    """

    _zk_joins: dict[str, QueueJoin]  # join attempt -> its QueueJoin, for retries
    _zk_own: dict[tuple[int, str], QueueJoin]  # (session, queue node) -> its join without ``unique``
    _joins_lock: threading.Lock  # held for every look at or change of those two maps

    def queue_join(
        self,
        path: str,
        value: bytes,
        *,
        unique: bool = False,
        attempt: str | None = None,
        timeout: float | None = None,
    ) -> QueueView:
        """Create ``<path>/_c_<uuid>-lock-<seq>`` and list the queue in one round trip. A retry
        after a lost link adopts the node of the first attempt. Without ``unique`` the
        session's node, if it has one here, is adopted (no ``attempt``) or replaced (a new one)."""
        node = self._keys.to_key(path)
        own = (self.session_id, node)
        with self._joins_lock:
            join = self._zk_joins.get(attempt) if attempt else None
            owned = self._zk_own.get(own) if join is None and not unique else None
        if owned is not None:
            join = owned  # kept until removed: a retry after a failed removal removes it
            if attempt is not None:  # left behind by an earlier join: make way for a new node
                self._read(path, join.remove, write=True, timeout=timeout)
                join = None
        if join is None:
            join = self._new_join(node, value, unique=unique, attempt=attempt)
        view = self._read(path, join.attempt, write=True, session=True, timeout=timeout)
        return relative_view(view)

    def fresh_join(self, path: str, value: bytes, *, unique: bool, attempt: str) -> QueueJoin | None:
        """The new join :meth:`queue_join` would make for ``attempt`` at once, remembered as it
        remembers one (so that it finds the node this one sends); None when it has more to do
        first: a repeat of ``attempt``, or this session's node here to adopt or replace."""
        node = self._keys.to_key(path)
        with self._joins_lock:
            if attempt in self._zk_joins or (not unique and (self.session_id, node) in self._zk_own):
                return None
        return self._new_join(node, value, unique=unique, attempt=attempt)

    def _new_join(self, node: str, value: bytes, *, unique: bool, attempt: str | None) -> QueueJoin:
        join = QueueJoin(node, value, protection=str(uuid.UUID(hex=attempt)) if attempt else None)
        with self._joins_lock:
            if attempt:
                _remember(self._zk_joins, attempt, join)  # a repeat of this attempt finds the node it sent
            if not unique:
                _remember(self._zk_own, (self.session_id, node), join)  # so does this session's next join
        return join

    def queue_list(
        self, path: str, *, values: bool = False, timeout: float | None = None
    ) -> tuple[list[Contender], int]:
        """One children read; with ``values``, one more pipelined read of every contender."""
        node = self._keys.to_key(path)
        contenders, revision = self._read(
            path, lambda client, deadline: list_queue(client, node, deadline, values=values), timeout=timeout
        )
        return [_relative(c) for c in contenders], revision

    def queue_update(self, mine: Contender, value: bytes) -> Contender:
        """``set`` at our node's known version, not retried (a repeat would meet its own
        version change); VersionConflictError if the node changed or is gone."""
        client, node = self._usable(session=True), self._keys.to_key(mine.key)
        with self._errors(mine.key, versioned=True, write=True, session=True):
            return update_contender(client, node, mine, value, self._deadline())

    def queue_leave(self, mine: Contender, *, timeout: float | None = None) -> None:
        """Delete our node; gone already is fine, so it is safe to retry."""
        node = self._keys.to_key(mine.key)
        self._read(
            mine.key,
            lambda client, deadline: leave_queue(client, node, deadline),
            write=True,
            timeout=timeout,
        )
        self.forget_left(node)

    def forget_left(self, node: str) -> None:
        """Our contender ``node`` is gone: this session's next join of its queue is a new one."""
        own = (self.session_id, node.rsplit("/", 1)[0] or "/")
        with self._joins_lock:
            if (join := self._zk_own.get(own)) is not None and join.created == node:
                del self._zk_own[own]

    def wait_gone(
        self, key: str, timeout: float | None, wake: threading.Event, *, create_revision: int = 0
    ) -> bool:
        """One ``getData`` watching that node alone: a departure wakes one waiter, not the herd.
        False after ``timeout`` or once ``wake`` is set by somebody else. (Sequential node
        names are never reused; ``create_revision`` still tells a node of that name made again
        by another tool.)"""
        node = self._keys.to_key(key)
        return self._read(
            key,
            lambda client, deadline: wait_gone(client, node, deadline, timeout, wake, create_revision),
            timeout=timeout,
        )

    def wait_any_gone(
        self,
        ahead: Sequence[Contender],
        timeout: float | None,
        wake: threading.Event,
        *,
        since_revision: int = 0,
    ) -> set[str]:
        """One ``getData`` per contender, pipelined, each watching that node alone (see
        :func:`.wait_gone.wait_any_gone`)."""
        nodes = [(c.key, self._keys.to_key(c.key), c.create_revision) for c in ahead]
        return self._read(
            ahead[0].key if ahead else "",
            lambda client, deadline: wait_any_gone(client, nodes, deadline, timeout, wake),
            timeout=timeout,
        )
