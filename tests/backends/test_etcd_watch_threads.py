"""An etcd watch leaves no thread behind, however early it is cancelled (real etcd).

Each watch runs a watch thread (``coordkit-etcd-<what>``), a reader thread per stream
(``...-reader``) and, inside gRPC, an unnamed thread that consumes the stream's requests:
it runs :meth:`EtcdWatch._requests`, which holds our half of the stream open until the
watch lets the stream go. A watch cancelled before its stream was seen once returned
without letting it go, so that gRPC thread waited there for ever, one per such watch.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

from coordkit.backends.base import Put, WatchEvent
from coordkit.backends.etcd.backend import EtcdBackend
from coordkit.backends.etcd.watch import EtcdWatch
from coordkit.testing import eventually
from coordkit.testing.servers import EtcdServer

DEADLINE = 15.0
ROUNDS = 100


def _named() -> list[str]:
    """The watches' own threads alive now, by name."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("coordkit-etcd-"))


def _holding_streams() -> int:
    """Threads (gRPC's, unnamed) running a watch's request generator now: each holds a
    stream open."""
    code = EtcdWatch._requests.__code__
    count = 0
    for frame in sys._current_frames().values():
        walker = frame
        while walker is not None and walker.f_code is not code:
            walker = walker.f_back
        count += walker is not None
    return count


def _assert_nothing_left(named_before: list[str], what: str) -> None:
    def nothing_left() -> bool:
        named, held = _named(), _holding_streams()
        assert named == named_before and held == 0, (
            f"{what}: {len(named) - len(named_before)} watch thread(s) left ({named}), "
            f"{held} gRPC thread(s) still holding a stream"
        )
        return True

    eventually(nothing_left, timeout=DEADLINE, message=f"{what}: no watch thread left")


@pytest.fixture(scope="module")
def backend() -> Iterator[EtcdBackend]:
    with EtcdServer() as server:
        backend = EtcdBackend(
            server.endpoints, f"/t{uuid.uuid4().hex[:10]}", options={"operation_timeout": 5}
        )
        backend.connect(lambda event: None, ttl=5, timeout=5)
        try:
            yield backend
        finally:
            backend.close()


def _nothing(event: WatchEvent) -> None:
    pass


def test_a_watch_cancelled_at_once_leaves_no_thread(backend: EtcdBackend) -> None:
    before = _named()
    for i in range(ROUNDS):
        backend.watch(f"/k{i}", _nothing, prefix=i % 2 == 0).cancel()  # often before its stream is seen
    _assert_nothing_left(before, f"{ROUNDS} watches cancelled at once")


def test_a_watch_cancelled_while_another_thread_starts_it_leaves_no_thread(backend: EtcdBackend) -> None:
    before = _named()
    for i in range(ROUNDS):
        watch = backend.watch(f"/k{i}", _nothing, prefix=False)
        canceller = threading.Thread(target=watch.cancel)
        canceller.start()  # races the watch thread's opening of its stream
        canceller.join(DEADLINE)
        assert not canceller.is_alive(), "cancel() did not return"
    _assert_nothing_left(before, f"{ROUNDS} watches cancelled while starting")


def test_a_watch_cancelled_after_its_stream_delivered_leaves_no_thread(backend: EtcdBackend) -> None:
    before, holding = _named(), _holding_streams()
    for i in range(5):
        seen = threading.Event()
        watch = backend.watch(f"/s{i}", lambda event, seen=seen: seen.set(), prefix=False)
        backend.put(Put(f"/s{i}", b"x"))
        assert seen.wait(DEADLINE), "the watch delivered nothing"
        assert _holding_streams() == holding + 1  # the probe sees a live stream's thread
        watch.cancel()
    _assert_nothing_left(before, "watches cancelled after an event")
