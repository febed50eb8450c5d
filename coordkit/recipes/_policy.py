"""What tells a lock, a semaphore, a side of a read/write lock and an election apart: a small
value, the policy, saying who is admitted from its place in the queue and whom a waiter waits
for. The queue itself (:mod:`._contention`) is written once for all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..backends.contender_queue import Contender, QueueView

__all__ = ["LEADERSHIP", "LOCK", "READ", "WRITE", "Policy", "semaphore"]


@dataclass(frozen=True)
class Policy:
    """How one kind of recipe uses the contender queue.

    ``slots``: admitted while among the first ``slots`` (1: the head). ``unique``: a session
    may have several contenders under one name (else one, as etcd's layout demands, so the
    client's handles take turns locally first). ``values``: admission reads the others'
    values (read/write locks). ``admission`` replaces the first-``slots`` rule; ``blocker``
    picks the one contender a waiter waits for (default: the one right ahead; with several
    slots any departure ahead may admit, so a waiter watches the ``slots`` nearest ahead and
    reads the queue once fewer remain, see ._departures)."""

    what: str
    slots: int = 1
    unique: bool = False
    values: bool = False
    admission: Callable[[QueueView], bool] | None = None
    blocker: Callable[[QueueView], Contender | None] | None = None

    def admits(self, view: QueueView) -> bool:
        if self.admission is not None:
            return self.admission(view)
        return 0 <= view.position < self.slots

    def waits_for(self, view: QueueView) -> Contender | None:
        """The contender whose departure may admit ``view.mine`` (None: nobody to wait for)."""
        if self.blocker is not None:
            return self.blocker(view)
        return view.contenders[view.position - 1]


def is_writer(contender: Contender) -> bool:
    # Contenders other tools wrote (etcdctl lock, Curator mutexes) count as writers: exclusive.
    return not contender.value.startswith(b"read:")


def nearest_writer_ahead(view: QueueView) -> Contender | None:
    for contender in reversed(view.contenders[: view.position]):
        if is_writer(contender):
            return contender
    return None


LOCK = Policy("lock")
LEADERSHIP = Policy("leadership")
# A reader shares the lock with the readers around it and waits only for the nearest writer
# ahead; a writer waits for the contender right ahead and holds alone, as a lock's head.
READ = Policy(
    "read lock",
    unique=True,
    values=True,
    blocker=nearest_writer_ahead,
    admission=lambda view: view.position >= 0 and nearest_writer_ahead(view) is None,
)
WRITE = Policy("write lock", unique=True, values=True, admission=lambda view: view.position == 0)


def semaphore(limit: int) -> Policy:
    """At most ``limit`` holders, each session any number of them."""
    return Policy("semaphore", slots=limit, unique=True)
