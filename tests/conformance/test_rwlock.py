"""Read/write locks on every backend: readers share, writers exclude, first come first served."""

from __future__ import annotations

import threading
from collections.abc import Callable

import coordkit

DEADLINE = 15.0
ClientFactory = Callable[..., coordkit.Client]


def _in_thread(fn: Callable[[], bool]) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()
    thread = threading.Thread(target=lambda: fn() and done.set())
    thread.start()
    return thread, done


def test_readers_share_and_a_writer_waits_for_them(make_client: ClientFactory) -> None:
    a, b, c = make_client(), make_client(), make_client()
    r1, r2, w = a.rwlock("doc"), b.rwlock("doc"), c.rwlock("doc")
    assert r1.read.acquire(timeout=DEADLINE) and r2.read.acquire(timeout=DEADLINE)
    assert r1.read.is_held and r2.read.is_held
    assert w.write.acquire(timeout=0.3) is False
    thread, got = _in_thread(lambda: w.write.acquire(timeout=DEADLINE))
    r1.read.release()
    assert not got.wait(0.3), "a writer must wait for every reader ahead"
    r2.read.release()
    assert got.wait(DEADLINE)
    thread.join()
    c.put("/doc/body", "v2", fence=w.write)  # the write side fences like a lock
    w.write.release()


def test_a_reader_behind_a_writer_waits_for_it(make_client: ClientFactory) -> None:
    a, b, c = make_client(), make_client(), make_client()
    w, w2, r = a.rwlock("q"), b.rwlock("q"), c.rwlock("q")
    assert w.write.acquire()
    assert w2.write.acquire(timeout=0.2) is False  # writers exclude writers
    thread, got = _in_thread(lambda: r.read.acquire(timeout=DEADLINE))
    assert not got.wait(0.3), "a reader queued behind a writer must wait for it"
    w.write.release()
    assert got.wait(DEADLINE)
    thread.join()
    assert r.read.is_held and r.read.token is not None
    r.read.release()
