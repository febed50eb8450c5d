"""The key/value calls of the ZooKeeper backend (get, children, tree, put, delete, commit),
over the few helpers :class:`~coordkit.backends.zookeeper.backend.ZooKeeperBackend` provides. The
key model (implicit parents, pinned versions) is described in that module; the pipelined
reads are in :mod:`.read` and the multi in :mod:`.commit`."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import kazoo.exceptions as ke
from kazoo.client import KazooClient

from ...errors import ConfigurationError, KeyExistsError, NotEmptyError, NotFoundError, VersionConflictError
from ..base import Check, Delete, Entry, Op, Put
from .commit import check_put, run_commit
from .own_writes import expect_writes, the_reply
from .parents import PrunedParents, create_with_parents, delete_levels, prune_parents
from .queue import ContenderQueues
from .read import get_entry, held_parent, is_parent, list_children, read_levels, read_tree, to_entry, wait

__all__ = ["KeyCalls"]

_RACES = 8  # attempts when concurrent writers keep invalidating what a write was based on


class KeyCalls(ContenderQueues):
    """The key/value part of the ZooKeeper backend. Reads retry once the link is back, within
    the operation timeout; writes cut by a lost link raise BackendUnavailableError."""

    _namespace: str
    _sid: int
    _pruned: PrunedParents  # implicit parents this backend removed: see _create

    def _writable(self, name: str) -> str:
        """The znode for a write; ZooKeeper's own /zookeeper tree (quotas, config) is refused."""
        path = self._keys.to_key(name)
        if not self._namespace and (path == "/zookeeper" or path.startswith("/zookeeper/")):
            raise ConfigurationError(
                f"{name} is in ZooKeeper's reserved /zookeeper tree; "
                "write somewhere else (or use a namespace)"
            )
        return path

    def get(self, key: str) -> Entry | None:
        path = self._keys.to_key(key)
        return self._read(key, lambda client, deadline: get_entry(client, path, deadline))

    def children(self, path: str) -> list[str]:
        node = self._keys.to_key(path)
        return self._read(
            path,
            lambda client, deadline: list_children(client, node, deadline, chrooted=bool(self._namespace)),
        )

    def tree(self, path: str) -> tuple[list[Entry], int]:
        """Pipelined level by level; the revision is the largest zxid read (see the module)."""
        root = self._keys.to_key(path)
        return self._read(
            path, lambda client, deadline: read_tree(client, root, deadline, chrooted=bool(self._namespace))
        )

    def put(self, op: Put) -> Entry:
        """Write one key; a failed condition changed nothing, and neither did a failed
        creation of missing parents (they are created in the key's own transaction)."""
        check_put(op)
        path = self._writable(op.key)
        client = self._usable(session=op.ephemeral)
        # One round trip in the common cases. The rest (missing parents, races between
        # set and create, ephemeral ownership) goes through commit's guarded multi.
        absent = False
        try:
            with self._errors(op.key, versioned=op.version is not None, write=True, session=op.ephemeral):
                if op.create or (op.ephemeral and op.version is None):
                    return self._create(client, path, op)
                if not op.ephemeral and op.version is None:
                    pending = client.set_async(path, op.value, version=-1)
                    expect_writes(client, pending, {path: (op.value, the_reply)})
                    stat = wait(pending, self._deadline())
                    return to_entry(path, op.value, stat)
                # A versioned put goes through commit, which first reads whether the node is
                # a key: an implicit parent has a data version that a set would match.
        except NotFoundError:  # a parent is missing (create) or the key is (plain set)
            absent = not op.create
        except KeyExistsError:
            pass  # a create may have met an implicit parent, which it writes: commit decides
        entry = self._commit([op], absent={0} if absent else set())[0]
        assert entry is not None
        return entry

    def _create(self, client: KazooClient, path: str, op: Put) -> Entry:
        """Create the key in one round trip when its parents exist, or are the ones this
        backend removed (deregistering a service's last instance removes its parent): then
        they go in the key's own multi. A missing parent found by a failed create goes in a
        second multi with the key. Raises kazoo's errors: NoNodeError when that was not
        enough (more parents are missing: commit finds them), NodeExistsError."""
        guess = self._pruned.above(path)
        if guess:
            self._pruned.forget(guess)  # they exist after this, or the guess was wrong
            entry = self._create_under(client, path, op, guess)
            if entry is not None:
                return entry
        try:
            _, stat = wait(
                client.create_async(path, op.value, ephemeral=op.ephemeral, include_data=True),
                self._deadline(),
            )
        except ke.NoNodeError:
            parent = path.rsplit("/", 1)[0]
            entry = None if guess or not parent else self._create_under(client, path, op, [parent])
            if entry is None:
                raise
            return entry
        return to_entry(path, op.value, stat)

    def _create_under(self, client: KazooClient, path: str, op: Put, parents: list[str]) -> Entry | None:
        return create_with_parents(
            client,
            path,
            op.value,
            ephemeral=op.ephemeral,
            parents=parents,
            session_id=self._sid,
            deadline=self._deadline(),
        )

    def delete(self, key: str, *, version: int | None = None, recursive: bool = False) -> bool:
        """A recursive delete is not atomic: it deletes the deepest level first, so an
        interrupted one leaves the key with part of its subtree."""
        path = self._writable(key)
        if version is not None and not recursive:
            # Through commit, which reads whether the node is a key: an empty implicit parent
            # has a data version that a delete would match.
            self._commit([Delete(key, version)], absent=set())
            return True
        client = self._usable()
        expected = -1 if version is None else version - 1
        for _ in range(_RACES if recursive else 1):
            if recursive:
                top, levels = self._read(
                    key, lambda c, d: read_levels(c, path, d, chrooted=bool(self._namespace))
                )
                if top is None or (version is not None and is_parent(top.data)):
                    if version is not None:
                        raise VersionConflictError(f"{key} does not exist (expected at version {version})")
                    return False
                if version is not None and top.stat.version != expected:
                    raise VersionConflictError(f"{key} is at version {top.stat.version + 1}, not {version}")
                with self._errors(key, write=True):
                    delete_levels(client, levels, self._deadline())
            try:
                # Read just before the delete, in its round trip (ZooKeeper runs a session's
                # requests in order): an empty implicit parent it removes was no key.
                before = None if recursive else client.get_async(path)
                with self._errors(key, versioned=version is not None, write=True):
                    wait(client.delete_async(path, version=expected), self._deadline())
                with self._errors(key):
                    prune_parents(client, [path], self._deadline(), pruned=self._pruned)
                return before is None or not held_parent(before, self._deadline())
            except NotFoundError:
                return recursive  # recursive: it existed when read, and is gone now
            except NotEmptyError:
                if not recursive:
                    return self._delete_parent(key, version)
        raise NotEmptyError(f"{key}: keys kept appearing below it while deleting it")

    def _delete_parent(self, key: str, version: int | None) -> bool:
        """Delete a key that has keys below it: it becomes their implicit parent (one
        version-pinned write, see :mod:`.commit`). False if it is already one."""
        if self.get(key) is None:
            if version is not None:
                raise VersionConflictError(f"{key} does not exist (expected at version {version})")
            return False
        self._commit([Delete(key, version)], absent=set())
        return True

    def commit(self, ops: Sequence[Op]) -> list[Entry | None]:
        """One ZooKeeper multi (see :mod:`.commit`): all or nothing."""
        for op in ops:
            if isinstance(op, Put):
                check_put(op)
        if not ops:
            return []
        return self._commit(ops, absent=set())

    def _commit(self, ops: Sequence[Op], *, absent: set[int]) -> list[Entry | None]:
        mapped = [
            (self._writable(op.key) if not isinstance(op, Check) else self._keys.to_key(op.key), op)
            for op in ops
        ]
        session = any(isinstance(op, Put) and op.ephemeral for op in ops)
        return run_commit(
            self._usable(session=session),
            mapped,
            session_id=self._sid,
            deadline=self._deadline,
            errors=functools.partial(self._errors, session=session),
            races=_RACES,
            absent=absent,
            pruned=self._pruned,
        )
