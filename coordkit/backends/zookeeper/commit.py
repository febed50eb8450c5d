"""``commit`` on ZooKeeper: coordkit's ops as one kazoo transaction (a ZooKeeper multi).

A multi applies all its ops at one zxid or none of them, but it cannot express "set, or
create if absent", "exists with this czxid" or "delete if present". Those are decided from
a read (or a guess) and the multi is built on that; if a concurrent writer invalidates the
decision, the multi fails as a whole, nothing was written, and it is built again (a bounded
number of times). Missing parents of created keys are created in the same multi, as
implicit parents (``PARENT_MARK``): nodes that are not keys. A create that finds an
implicit parent writes it (pinned to the version read); a delete of a node that has
children turns it back into an implicit parent (pinned likewise), as ZooKeeper cannot
remove it; a delete of an implicit parent is a delete of an absent key. Every condition on a
version (and every Check) is first decided from a read of the node's data: a multi compares
data versions only, and an implicit parent has one (and an empty one left behind is replaced
by an ephemeral key in the same multi).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from operator import itemgetter

import kazoo.exceptions as ke
from kazoo.client import KazooClient
from kazoo.protocol.states import ZnodeStat

from ...errors import ConfigurationError, ConflictError, KeyExistsError, VersionConflictError
from ..base import Check, Delete, Entry, Op, Put
from .errors import TRANSLATED
from .own_writes import expect_writes
from .parents import PrunedParents, missing_parents, prune_parents
from .read import PARENT_MARK, is_parent, to_entry, wait

__all__ = ["check_put", "run_commit"]

log = logging.getLogger(__name__)
_Read = tuple[bytes, ZnodeStat] | None  # a node's data and stat, None if there is none
MAX_VALUE_BYTES = 1024 * 1024 - 4096  # past jute.maxbuffer (1 MiB) ZooKeeper drops the connection
_FOLLOWERS = (ke.RolledBackError, ke.RuntimeInconsistency)  # results of the ops that did not fail


def run_commit(
    client: KazooClient,
    ops: Sequence[tuple[str, Op]],
    *,
    session_id: int,
    deadline: Callable[[], float],
    errors: Callable[..., AbstractContextManager[None]],
    races: int,
    absent: set[int],
    pruned: PrunedParents | None = None,
) -> list[Entry | None]:
    """Apply ``ops`` (each with its znode path) atomically; see ``Backend.commit``.

    On a failed condition raises the ConflictError subclass naming the failing key, and
    nothing was written. A Put without ``create`` or ``version`` is guessed to be an update
    and turned into a create when the key is absent (and back, if the guess keeps losing);
    ``absent`` names the ops already known to be creates; the implicit parents that the
    commit removes are noted in ``pruned``.
    """
    creating = dict.fromkeys(absent, True)  # plain puts: index -> create (True) or update (False)
    skipped: set[int] = set()  # deletes without version of keys found absent
    pinned: dict[int, int] = {}  # creates over, and deletes into, an implicit parent: its version
    parents: list[str] = []
    for _ in range(races):
        with errors():
            stats = _pre_read(client, ops, deadline())
        multi = _Multi(client, parents)
        tx, plan = multi.tx, multi.plan
        kinds: dict[int, str] = {}
        create, set_data = multi.create, multi.set_data
        for i, (path, op) in enumerate(ops):
            if isinstance(op, Check):
                stat = _key_stat(op, stats[path])
                if op.create_revision is not None and (stat is None or stat.czxid != op.create_revision):
                    raise VersionConflictError(
                        f"{op.key} is not the key created at revision "
                        f"{op.create_revision} (absent or created again)"
                    )
                tx.check(path, -1 if op.version is None else op.version - 1)
            elif isinstance(op, Delete):
                if i in skipped:
                    continue
                if op.version is not None:
                    _key_stat(op, stats[path])
                if i in pinned:  # it has children: it becomes their implicit parent
                    set_data(path, PARENT_MARK, pinned[i])
                else:
                    tx.delete(path, -1 if op.version is None else op.version - 1)
            elif op.ephemeral and _empty_parent(stats[path]):
                # A parent that lost its last key without a coordkit delete: it is no key, so
                # the ephemeral key takes its place (ZooKeeper cannot make a node ephemeral).
                read = stats[path]
                assert read is not None
                tx.delete(path, read[1].version)
                plan.append(i)
                kinds[i] = "create"
                create(path, op.value, True)
            elif op.create and i in pinned:
                kinds[i] = "set"
                set_data(path, op.value, pinned[i])
            elif op.create:
                kinds[i] = "create"
                create(path, op.value, op.ephemeral)
            elif op.version is not None:
                if op.ephemeral:
                    _require_own(op, _stat(stats[path]), session_id, missing_ok=False)
                _key_stat(op, stats[path])
                kinds[i] = "set"
                set_data(path, op.value, op.version - 1)
            elif op.ephemeral:
                stat = _require_own(op, _stat(stats[path]), session_id, missing_ok=True)
                kinds[i] = "create" if stat is None else "set"
                if stat is None:
                    create(path, op.value, True)
                else:  # pinned to the version read, so that an owner change in between fails
                    set_data(path, op.value, stat.version)
            else:
                kinds[i] = "create" if creating.get(i, False) else "set"
                if kinds[i] == "create":
                    create(path, op.value, False)
                else:
                    set_data(path, op.value, -1)
            plan.append(i)
        if not plan:  # only deletes of absent keys: nothing to write
            return [None] * len(ops)
        created = [(i, ops[i][0]) for i in plan if kinds.get(i) == "create"]
        with errors(write=True):
            pending = tx.commit_async()
            expect_writes(client, pending, multi.sets)  # spares this session's watches a read-back
            # Sent behind the multi on the same session, so ZooKeeper answers them right after it.
            reads = [client.get_async(path) for _, path in created]
            outcome = wait(pending, deadline())
        failed = next(
            (j for j, r in enumerate(outcome) if isinstance(r, Exception) and not isinstance(r, _FOLLOWERS)),
            None,
        )
        if failed is None:
            results = _results(client, ops, plan, kinds, outcome, created, reads, session_id, deadline())
            deleted = [ops[i][0] for i in plan if isinstance(ops[i][1], Delete) and i not in pinned]
            if pruned is not None and parents:
                pruned.forget(parents)  # made again: no longer a guess for the next create
            prune_parents(client, deleted, deadline(), pruned=pruned)
            return results
        index, exc = plan[failed], outcome[failed]
        if index < 0 or (kinds.get(index) == "create" and isinstance(exc, ke.NoNodeError)):
            # A parent is missing, or one we meant to create appeared or vanished meanwhile.
            with errors():
                parents = missing_parents(client, [p for _, p in created], deadline())
            continue
        path, op = ops[index]
        if isinstance(op, Put) and op.ephemeral and _empty_parent(stats[path]):
            continue  # the parent changed since it was read (a key below, a value): decide again
        if _implicit_parent_met(client, op, index, path, exc, pinned, skipped, errors, deadline()):
            continue
        if isinstance(op, Put) and not op.create and op.version is None:
            if isinstance(exc, ke.NoNodeError) or (isinstance(exc, ke.NodeExistsError) and not op.ephemeral):
                # The guess was wrong for this key, so it may be wrong for others too: read
                # whether each plain put's key exists (one pipelined round trip) rather than
                # learning one key per failed multi.
                with errors():
                    creating.update(_plain_put_absence(client, ops, deadline()))
                creating[index] = isinstance(exc, ke.NoNodeError)
                continue
            if op.ephemeral and isinstance(exc, (ke.NodeExistsError, ke.BadVersionError)):
                continue  # the key changed hands between the read and the multi: read again
        if isinstance(op, Delete) and op.version is None and isinstance(exc, ke.NoNodeError):
            # As for plain puts: learn every absent key of the commit's deletes in one read.
            with errors():
                skipped.update(_absent_deletes(client, ops, deadline()))
            skipped.add(index)
            continue
        versioned = isinstance(op, Check) or getattr(op, "version", None) is not None
        with errors(op.key, versioned=versioned):
            raise exc
    raise ConflictError(f"commit of {[op.key for _, op in ops]} kept losing races with other writers")


class _Multi:
    """A transaction being built: ``plan`` maps each of its ops to the index of the coordkit
    op it came from (-1 for a missing parent, created just before the first key below it)."""

    def __init__(self, client: KazooClient, parents: list[str]) -> None:
        self.tx = client.transaction()
        self.plan: list[int] = []
        self.sets: dict[str, tuple[bytes, Callable[[list[object]], object]]] = {}  # see .own_writes
        self._parents = parents
        self._made: set[str] = set()

    def set_data(self, path: str, value: bytes, version: int) -> None:
        self.sets[path] = (value, itemgetter(len(self.tx.operations)))  # its stat in the reply
        self.tx.set_data(path, value, version)

    def create(self, path: str, value: bytes, ephemeral: bool) -> None:
        for parent in self._parents:
            if parent not in self._made and path.startswith(parent + "/"):
                self.tx.create(parent, PARENT_MARK)
                self.plan.append(-1)
                self._made.add(parent)
        self.tx.create(path, value, ephemeral=ephemeral)
        self._made.add(path)


def _pre_read(client: KazooClient, ops: Sequence[tuple[str, Op]], deadline: float) -> dict[str, _Read]:
    """Data and stat of the nodes whose transaction op depends on a read, pipelined (None:
    no node). Every condition on a version needs the data: a multi compares a node's data
    version only, and an implicit parent has one although it is no key."""
    need = sorted(
        {
            path
            for path, op in ops
            if isinstance(op, Check)
            or (isinstance(op, (Put, Delete)) and op.version is not None)
            or (isinstance(op, Put) and op.ephemeral)
        }
    )
    probes = [client.get_async(p) for p in need]
    reads: dict[str, _Read] = {}
    for path, probe in zip(need, probes, strict=True):
        try:
            reads[path] = wait(probe, deadline)
        except ke.NoNodeError:
            reads[path] = None
    return reads


def _empty_parent(read: _Read) -> bool:
    """Whether a node read is an implicit parent without children."""
    return read is not None and is_parent(read[0]) and not read[1].numChildren


def _stat(read: _Read) -> ZnodeStat | None:
    """The stat of a node read, whatever it holds."""
    return None if read is None else read[1]


def _key_stat(op: Op, read: _Read) -> ZnodeStat | None:
    """The stat of ``op``'s key as read (None if it is absent: no node, or an implicit
    parent); raises VersionConflictError when ``op`` needs the key to exist. The multi then
    pins the version read, so a key that changes meanwhile fails it. (One window remains,
    as on etcd after a delete and a re-creation: a key deleted and its node created again
    as a parent at the version read, within one round trip.)"""
    if read is not None and not is_parent(read[0]):
        stat = read[1]
        # Decided here rather than by the multi, as well: ZooKeeper counts versions in 32 bits,
        # and a larger one in a request breaks kazoo's connection (and the session with it).
        if op.version is not None and op.version != stat.version + 1:
            raise VersionConflictError(f"{op.key} is at version {stat.version + 1}, not {op.version}")
        return stat
    if isinstance(op, Check):
        raise VersionConflictError(f"{op.key} does not exist")
    if op.version is not None:
        raise VersionConflictError(f"{op.key} is absent, not at version {op.version}")
    return None


def _plain_put_absence(
    client: KazooClient, ops: Sequence[tuple[str, Op]], deadline: float
) -> dict[int, bool]:
    """For each plain put (no create, version or ephemeral): is its key absent now?"""
    plain = [
        i
        for i, (_, op) in enumerate(ops)
        if isinstance(op, Put) and not op.create and op.version is None and not op.ephemeral
    ]
    probes = [client.exists_async(ops[i][0]) for i in plain]
    return {i: wait(probe, deadline) is None for i, probe in zip(plain, probes, strict=True)}


def _implicit_parent_met(
    client: KazooClient,
    op: Op,
    index: int,
    path: str,
    exc: BaseException,
    pinned: dict[int, int],
    skipped: set[int],
    errors: Callable[..., AbstractContextManager[None]],
    deadline: float,
) -> bool:
    """Whether a failed op of the multi met a node that needs the implicit-parent rules (a
    create over one, a delete of a node with children, or a lost race with either); it then
    updates ``pinned``/``skipped`` for the next attempt. Raises a failed condition."""
    if index in pinned and isinstance(exc, (ke.BadVersionError, ke.NoNodeError)):
        del pinned[index]  # the node changed since it was read: decide again
        return True
    creates = isinstance(op, Put) and op.create and not op.ephemeral and isinstance(exc, ke.NodeExistsError)
    deletes = isinstance(op, Delete) and isinstance(exc, ke.NotEmptyError)
    if not (creates or deletes):
        return False
    with errors(op.key):
        try:
            data, stat = wait(client.get_async(path), deadline)
        except ke.NoNodeError:
            return True  # gone meanwhile: try again
    if creates:
        if not is_parent(data):
            return False  # a key: the create's KeyExistsError stands
        pinned[index] = stat.version
    elif is_parent(data):  # deleting an implicit parent: an absent key
        if op.version is not None:
            raise VersionConflictError(f"{op.key} does not exist (expected at version {op.version})")
        skipped.add(index)
    else:
        if op.version is not None and stat.version != op.version - 1:
            raise VersionConflictError(f"{op.key} is at version {stat.version + 1}, not {op.version}")
        pinned[index] = stat.version
    return True


def _absent_deletes(client: KazooClient, ops: Sequence[tuple[str, Op]], deadline: float) -> set[int]:
    """The deletes without version whose key is absent now (one pipelined round trip)."""
    plain = [i for i, (_, op) in enumerate(ops) if isinstance(op, Delete) and op.version is None]
    probes = [client.exists_async(ops[i][0]) for i in plain]
    return {i for i, probe in zip(plain, probes, strict=True) if wait(probe, deadline) is None}


def _require_own(op: Put, stat: ZnodeStat | None, session_id: int, *, missing_ok: bool) -> ZnodeStat | None:
    if stat is None:
        if missing_ok:
            return None
        raise VersionConflictError(f"{op.key} does not exist (expected at version {op.version})")
    if stat.ephemeralOwner != session_id:
        owner = (
            "a persistent key" if stat.ephemeralOwner == 0 else f"owned by session {stat.ephemeralOwner:#x}"
        )
        raise KeyExistsError(f"{op.key} already exists as {owner}; an ephemeral put cannot take it over")
    return stat


def _results(
    client: KazooClient,
    ops: Sequence[tuple[str, Op]],
    plan: list[int],
    kinds: dict[int, str],
    outcome: list[object],
    created: list[tuple[int, str]],
    reads: list[object],
    session_id: int,
    deadline: float,
) -> list[Entry | None]:
    # Every op of a multi has the multi's zxid: a set's stat tells it, else a created node's czxid.
    stats_by_op = {i: r for i, r in zip(plan, outcome, strict=True) if isinstance(r, ZnodeStat)}
    zxid = next((s.mzxid for s in stats_by_op.values()), 0)
    if not zxid:
        seen = []
        for read in reads:
            try:
                seen.append(wait(read, deadline)[1].czxid)
            except TRANSLATED as exc:  # deleted already, or the link dropped: the commit did happen
                log.debug("coordkit: reading back a committed key failed: %r", exc)
        # A node deleted and created again since has a larger czxid, hence min().
        zxid = min(seen) if seen else client.last_zxid
    results: list[Entry | None] = [None] * len(ops)
    for i, kind in kinds.items():
        path, op = ops[i]
        assert isinstance(op, Put)
        if kind == "set":
            results[i] = to_entry(path, op.value, stats_by_op[i])
        else:
            results[i] = Entry(path, bytes(op.value), 1, zxid, zxid, session_id if op.ephemeral else 0)
    return results


def check_put(op: Put) -> None:
    """Refuse, before sending anything, what ZooKeeper would refuse less helpfully."""
    if not isinstance(op.value, (bytes, bytearray)):
        raise ConfigurationError(f"the value of {op.key} must be bytes, not {type(op.value).__name__}")
    if len(op.value) > MAX_VALUE_BYTES:
        raise ConfigurationError(
            f"the value of {op.key} has {len(op.value)} bytes; ZooKeeper refuses values over about 1 MiB"
        )
    if op.create and op.version is not None:
        raise ConfigurationError(f"put of {op.key}: create=True and version= exclude each other")
