#!/usr/bin/env python3
"""Benchmark and profile: a contended etcd lock handoff, next to the bare calls it needs.

    python bench/etcd_handoff.py [--rounds N] [--warmup N] [--hold MS] [--etcd HOST:PORT]

Starts one local etcd (coordkit.testing) unless given one. Each round runs one of every case
below, one after the other, so that every case meets the same server conditions (this
machine's disk sync times move by half within a minute, which blocks of one case at a time
turned into differences between the cases). Prints medians, and each handoff's median ratio
to the floor of the same round, of:

* the bare handoff floor (delete, watch event, queue read; see _locks_raw.py);
* coordkit's contended handoff (release call start -> the waiter's acquire returns; two
  clients taking turns), with the departure wait on the shared stream (``stream``, today's
  code) and with a watch per wait (``per-wait``, the code before: ``wait_gone_by_watch``);
* the split of a per-wait handoff: opening the watch (read + threads), the get after it,
  release -> the waiter's wake, wake -> the queue read done;
* uncontended acquire + release with each departure path (no wait happens: a control).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this script
from _common import local_servers
from _locks_raw import EtcdRaw

import coordkit
from coordkit.backends.keyvalue_queue import wait_gone_by_watch

now = time.perf_counter


class Probe:
    """Stamps of one handoff: when the waiter entered its wait, was woken, had read the queue."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.stamps: dict[str, list[float]] = defaultdict(list)
        self.woke = self.returned = self.leaving = self.left = 0.0

    def instrument(self, backend: Any, path: str) -> None:
        wait_gone, queue_list, watch, get = backend.wait_gone, backend.queue_list, backend.watch, backend.get

        def timed_watch(*args: Any, **kwargs: Any) -> Any:
            started = now()
            try:
                return watch(*args, **kwargs)
            finally:
                self.stamps["open watch (read + thread)"].append(now() - started)

        def timed_get(key: str) -> Any:
            started = now()
            try:
                return get(key)
            finally:
                self.stamps["get after the watch"].append(now() - started)

        def old_wait(key: str, timeout: float | None, wake: threading.Event, **options: Any) -> bool:
            options.pop("since_revision", None)
            return wait_gone_by_watch(backend, key, timeout, wake, **options)

        def counted_wait(key: str, timeout: float | None, wake: threading.Event, **options: Any) -> bool:
            self.waiting.set()
            gone = (old_wait if path == "per-wait" else wait_gone)(key, timeout, wake, **options)
            self.woke = self.returned = now()
            return gone

        def timed_list(*args: Any, **kwargs: Any) -> Any:
            result = queue_list(*args, **kwargs)
            if self.woke:
                self.stamps["woken -> queue read done"].append(now() - self.woke)
                self.woke = 0.0
            return result

        queue_leave = backend.queue_leave

        def timed_leave(*args: Any, **kwargs: Any) -> Any:
            self.leaving = now()
            try:
                return queue_leave(*args, **kwargs)
            finally:
                self.left = now()

        backend.wait_gone, backend.queue_list, backend.queue_leave = counted_wait, timed_list, timed_leave
        backend.watch, backend.get = timed_watch, timed_get


class Handoffs:
    """Two clients taking turns on one lock, one handoff per :meth:`one`, timed from the
    release call's start to the waiter's acquire return (the split goes to ``probe``)."""

    def __init__(self, url: str, path: str) -> None:
        self._stack = contextlib.ExitStack()
        clients = [self._stack.enter_context(coordkit.connect(url)) for _ in range(2)]
        self.probe = Probe()
        for client in clients:
            self.probe.instrument(client.backend, path)
        name = f"handoff-{uuid.uuid4().hex[:8]}"
        self._locks = [client.lock(name) for client in clients]
        self._holder = 0
        assert self._locks[0].acquire(timeout=30)

    def one(self, hold: float) -> float:
        probe, waiter, acquired = self.probe, self._locks[1 - self._holder], [0.0]
        probe.waiting.clear()
        done = threading.Event()

        def wait_turn() -> None:
            if not waiter.acquire(timeout=30):
                raise TimeoutError("the waiter waited 30 s")
            acquired[0] = now()
            done.set()

        # The floor's rhythm (BareHandoff.one): idle, a write (here the waiter's join), idle,
        # the release. The idle time before a write changes its round trip on this machine
        # (about 0.7 ms after 10 ms of idle, 1.3 ms after 20 ms): the same gaps in both.
        time.sleep(hold / 2)
        thread = threading.Thread(target=wait_turn)
        thread.start()
        if not probe.waiting.wait(30):
            raise TimeoutError("the waiter did not start waiting")
        time.sleep(hold / 2)  # the waiter's watch is set up meanwhile
        started = now()
        self._locks[self._holder].release()
        if not done.wait(30):
            raise TimeoutError("no handoff within 30 s")
        thread.join()
        probe.stamps["release start -> wait_gone returned"].append(probe.returned - started)
        probe.stamps["release start -> leave txn starts"].append(probe.leaving - started)
        probe.stamps["leave txn (delete) round trip"].append(probe.left - probe.leaving)
        probe.stamps["wait_gone returned -> acquire returned"].append(acquired[0] - probe.returned)
        self._holder = 1 - self._holder
        return acquired[0] - started

    def __enter__(self) -> Handoffs:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._stack:
            self._locks[self._holder].release()


class Alone:
    """Uncontended acquire + release on one client, one per :meth:`one` (no wait happens)."""

    def __init__(self, url: str, path: str) -> None:
        self._client = coordkit.connect(url)
        Probe().instrument(self._client.backend, path)
        self._lock = self._client.lock(f"alone-{uuid.uuid4().hex[:8]}")

    def one(self) -> float:
        started = now()
        assert self._lock.acquire(timeout=10)
        self._lock.release()
        return now() - started

    def __enter__(self) -> Alone:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.3f} ms (n={len(samples)})"


def paired(took: list[float], floor: list[float]) -> str:
    """The median of the per-round ratios: each handoff over the floor's of the same round."""
    return f"{statistics.median(t / f for t, f in zip(took, floor, strict=True)):.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="handoffs per figure")
    parser.add_argument("--warmup", type=int, default=10, help="rounds of each, not counted")
    parser.add_argument("--hold", type=float, default=20.0, help="ms the holder waits before releasing")
    parser.add_argument("--etcd", help="HOST:PORT of a running etcd (else one is started)")
    args = parser.parse_args()
    hold = args.hold / 1000
    samples: dict[str, list[float]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(local_servers(["etcd"], given={"etcd": args.etcd}))["etcd"]
        endpoint = url.removeprefix("etcd://").split("/")[0]
        raw = EtcdRaw(endpoint, f"/bench-{uuid.uuid4().hex[:8]}")
        stack.callback(raw.close)
        floor = stack.enter_context(raw.handoff_floor())
        pairs = {path: stack.enter_context(Handoffs(url, path)) for path in ("stream", "per-wait")}
        rounds: dict[str, Callable[[], float]] = {
            "bare handoff floor": lambda: floor.one(hold),
            **{f"contended handoff, {path}": partial(pair.one, hold) for path, pair in pairs.items()},
        }
        for path in pairs:
            rounds[f"uncontended acquire+release, {path}"] = stack.enter_context(Alone(url, path)).one
        for round_ in range(args.warmup + args.rounds):  # one of each per round: the same conditions
            for what, fn in rounds.items():
                took = fn()
                if round_ >= args.warmup:
                    samples[what].append(took)
        split = {path: pair.probe.stamps for path, pair in pairs.items()}
        split["floor"] = {"delete round trip": floor.drops, "woken -> queue read done": floor.reads}
    base = samples["bare handoff floor"]
    floor_s = statistics.median(base)
    print(f"etcd handoff, medians of {args.rounds} rounds (each: one of every case), hold {args.hold:g} ms")
    for what, values in samples.items():
        extra = ""
        if "handoff" in what:
            extra = f"  ({statistics.median(values) / floor_s:.2f}x floor; per round {paired(values, base)})"
        print(f"  {what:40s} {ms(values)}{extra}")
    for path, stamps in split.items():
        print(f"  split of a {path} handoff (warm-up rounds included):")
        for what, values in stamps.items():
            print(f"    {what:38s} {ms(values)}")


if __name__ == "__main__":
    main()
