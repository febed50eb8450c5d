"""Leader election on the contender queue.

Wire layouts: on etcd, etcd's Go ``concurrency.Election`` (what ``etcdctl elect`` uses):
candidate ``<name>/<lease id hex>`` holding the proposal, the leader being the candidate with
the lowest create revision. On ZooKeeper, Apache Curator's ``LeaderSelector`` (an
``InterProcessMutex`` whose nodes hold each participant's id): ``<name>/_c_<uuid>-lock-<seq>``.
"""

from __future__ import annotations

import contextlib
import queue as queue_mod
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..backends import probe as probes
from ..backends.base import WatchEvent
from ..backends.contender_queue import Contender
from ..core.durations import wait_seconds
from ..errors import ConfigurationError, ConflictError, OwnershipError
from ..names import recipe_name, validate_value
from ._contention import Contention
from ._handles import Held
from ._policy import LEADERSHIP

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["Election", "Leader"]


@dataclass(frozen=True)
class Leader:
    """The current leader: its proposal, candidate key and fencing token."""

    proposal: str
    key: str
    token: int


def _proposal(value: object) -> bytes:
    if not isinstance(value, str):
        raise ConfigurationError(f"a proposal must be a str, not {type(value).__name__}")
    return validate_value(value, "proposal")


class Election(Held):
    """Campaign for leadership of ``name``; observe who leads.

    ``campaign()`` means what ``threading.Lock.acquire(timeout=...)`` means. Leadership is
    lost when the session is SUSPENDED (unless ``lose_on_suspend=False``) or LOST: see
    :attr:`lost` and :meth:`on_lost`.
    """

    def __init__(
        self, client: Store, name: str, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> None:
        self._client = client
        self.identity = identity
        name = recipe_name(name, "leadership name")  # the local guard too: one per canonical name
        self._contention = Contention(
            client, name, LEADERSHIP, lose_on_suspend=lose_on_suspend, guard=client.local_guard(name)
        )

    def __repr__(self) -> str:
        return f"<coordkit.Election {self.name} leader={self.is_leader}>"

    @property
    def is_leader(self) -> bool:
        """True while leader and the session is not known to be in doubt."""
        return self.is_held

    def campaign(self, proposal: str, timeout: float | None = None) -> bool:
        """Become a candidate with ``proposal`` and wait until elected. Returns False if
        ``timeout`` passed first (the candidacy is then withdrawn)."""
        return self._contention.enter(_proposal(proposal), blocking=True, timeout=timeout)

    def resign(self) -> None:
        """Give up leadership (or candidacy). Raises OwnershipError if leadership had been
        lost meanwhile (the candidate key is removed all the same)."""
        self._contention.leave()

    def proclaim(self, proposal: str) -> None:
        """Change the leader's value without a new election. Raises OwnershipError if this
        handle is not (or no longer) the leader."""
        value = _proposal(proposal)
        mine = self._contention.mine
        if mine is None or not self._contention.held_now:
            raise OwnershipError(f"cannot proclaim: not the leader of {self.name}")
        try:
            self._contention.mine = self._client.backend.queue_update(mine, value)
        except ConflictError:
            raise OwnershipError(f"cannot proclaim: the candidate key of {self.name} is gone") from None

    def leader(self) -> Leader | None:
        """The current leader, or None when nobody leads (one read)."""
        contenders, _ = self._client.backend.queue_list(self.name, values=True)
        return _leader_of(contenders)

    def observe(self, timeout: float | None = None) -> Iterator[Leader]:
        """Yield the current leader, then every change of leader or of its proclaimed value,
        in order. Periods without a leader are skipped (with metrics enabled, each one this
        observer sees after a leader is timed: ``coordkit_election_leaderless_seconds``). Stops
        after ``timeout`` seconds of no change (never, by default) or when the generator is
        closed."""
        timeout = wait_seconds(timeout)
        if timeout is not None and timeout < 0:
            raise ConfigurationError(f"observe() timeout must be >= 0 or None, not {timeout!r}")
        changes: queue_mod.SimpleQueue[WatchEvent] = queue_mod.SimpleQueue()
        last: Leader | None = None
        gap = _Leaderless()
        with self._client.watch(self.name, changes.put, recursive=True), contextlib.closing(gap):
            while True:
                current = self.leader()
                gap.saw(current)
                if current is not None and current != last:
                    last = current
                    yield current
                try:
                    changes.get(timeout=timeout)
                except queue_mod.Empty:
                    return
                while not changes.empty():  # coalesce a burst into one re-read
                    changes.get_nowait()

    @contextlib.contextmanager
    def leadership(self, proposal: str, timeout: float | None = None) -> Iterator[Election]:
        """``with election.leadership("me"):`` runs the body as leader and resigns after.
        Raises OwnershipError if not elected within ``timeout``. Check :attr:`lost` inside
        long bodies: leadership can end before the body does."""
        if not self.campaign(proposal, timeout=timeout):
            raise OwnershipError(f"not elected leader of {self.name} within {timeout}s")
        try:
            yield self
        except BaseException:
            with contextlib.suppress(OwnershipError):
                self.resign()
            raise
        self.resign()  # raises OwnershipError if the body did not run as leader throughout


class _Leaderless:
    """Times the gaps one observer sees: from its first read of no leader after it saw one, to
    its next read of a leader. A gap before the first leader seen is not timed (when it began is
    unknown), nor a handoff that a single re-read saw as a new leader at once (there was none)."""

    def __init__(self) -> None:
        self._seen = False
        self._since: float | None = None  # time.monotonic() of the read that found no leader

    def saw(self, leader: Leader | None) -> None:
        if leader is None:
            if self._seen and self._since is None:
                self._since = time.monotonic()
                probe = probes.active
                if probe is not None:
                    probe.leaderless_began()
            return
        self._seen = True
        if self._since is not None:
            waited, self._since = time.monotonic() - self._since, None
            probe = probes.active
            if probe is not None:
                probe.leaderless_ended(waited)

    def close(self) -> None:
        """The observer stopped: a gap still open has no end to measure."""
        if self._since is not None:
            self._since = None
            probe = probes.active
            if probe is not None:
                probe.leaderless_ended(None)


def _leader_of(contenders: list[Contender]) -> Leader | None:
    if not contenders:
        return None
    head = contenders[0]
    return Leader(head.value.decode("utf-8", "replace"), head.key, head.create_revision)
