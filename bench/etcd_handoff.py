#!/usr/bin/env python3
"""Benchmark and profile: a contended etcd lock handoff, next to the bare calls it needs.

    python bench/etcd_handoff.py [--rounds N] [--hold MS] [--etcd HOST:PORT]

Starts one local etcd (coordkit.testing) unless given one, and in one run, alternating
blocks, prints medians of:

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
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
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


def handoffs(url: str, path: str, rounds: int, hold: float) -> tuple[list[float], dict[str, list[float]]]:
    """Two clients take turns on one lock; each handoff timed from release call start to
    the waiter's acquire return."""
    name = f"handoff-{uuid.uuid4().hex[:8]}"
    with coordkit.connect(url) as first, coordkit.connect(url) as second:
        probe = Probe()
        for client in (first, second):
            probe.instrument(client.backend, path)
        locks = [first.lock(name), second.lock(name)]
        took: list[float] = []
        acquired = [0.0]
        holder = 0
        assert locks[0].acquire(timeout=30)
        for _ in range(rounds):
            waiter = 1 - holder
            probe.waiting.clear()
            done = threading.Event()

            def wait_turn(lock: Any = locks[waiter], done: threading.Event = done) -> None:
                if not lock.acquire(timeout=30):
                    raise TimeoutError("the waiter waited 30 s")
                acquired[0] = now()
                done.set()

            thread = threading.Thread(target=wait_turn)
            thread.start()
            if not probe.waiting.wait(30):
                raise TimeoutError("the waiter did not start waiting")
            time.sleep(hold)  # the waiter's watch is set up meanwhile
            started = now()
            locks[holder].release()
            if not done.wait(30):
                raise TimeoutError("no handoff within 30 s")
            thread.join()
            took.append(acquired[0] - started)
            probe.stamps["release start -> wait_gone returned"].append(probe.returned - started)
            probe.stamps["release start -> leave txn starts"].append(probe.leaving - started)
            probe.stamps["leave txn (delete) round trip"].append(probe.left - probe.leaving)
            probe.stamps["wait_gone returned -> acquire returned"].append(acquired[0] - probe.returned)
            holder = waiter
        locks[holder].release()
        return took, probe.stamps


def uncontended(url: str, path: str, rounds: int) -> list[float]:
    with coordkit.connect(url) as client:
        Probe().instrument(client.backend, path)
        lock = client.lock(f"alone-{uuid.uuid4().hex[:8]}")
        took = []
        for _ in range(rounds):
            started = now()
            lock.acquire(timeout=10)
            lock.release()
            took.append(now() - started)
        return took


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.3f} ms (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60, help="handoffs per block")
    parser.add_argument("--blocks", type=int, default=5, help="alternating blocks per figure")
    parser.add_argument("--hold", type=float, default=20.0, help="ms the holder waits before releasing")
    parser.add_argument("--etcd", help="HOST:PORT of a running etcd (else one is started)")
    args = parser.parse_args()
    hold = args.hold / 1000
    with local_servers(["etcd"], given={"etcd": args.etcd}) as urls:
        url = urls["etcd"]
        endpoint = url.removeprefix("etcd://").split("/")[0]
        raw = EtcdRaw(endpoint, f"/bench-{uuid.uuid4().hex[:8]}")
        samples: dict[str, list[float]] = defaultdict(list)
        split: dict[str, dict[str, list[float]]] = {
            "stream": defaultdict(list),
            "per-wait": defaultdict(list),
        }
        runs: list[tuple[str, Callable[[], None]]] = []
        for path in ("stream", "per-wait"):

            def contended(path: str = path) -> None:
                took, stamps = handoffs(url, path, args.rounds, hold)
                samples[f"contended handoff, {path}"] += took[2:]  # the first ones open streams
                for what, values in stamps.items():
                    split[path][what] += values

            def alone(path: str = path) -> None:
                samples[f"uncontended acquire+release, {path}"] += uncontended(url, path, args.rounds)

            runs += [(f"handoff {path}", contended), (f"alone {path}", alone)]
        runs.append(("floor", lambda: samples["bare handoff floor"].extend(raw.handoffs(args.rounds, hold))))
        for fn in (r[1] for r in runs):  # warm-up
            fn()
        samples.clear()
        split = {"stream": defaultdict(list), "per-wait": defaultdict(list)}
        for _ in range(args.blocks):
            for _, fn in runs:
                fn()
        raw.close()
    floor = statistics.median(samples["bare handoff floor"])
    print(f"etcd handoff, medians, {args.blocks} blocks x {args.rounds} rounds, hold {args.hold:g} ms")
    for what, values in samples.items():
        extra = f"  ({statistics.median(values) / floor:.2f}x floor)" if "handoff" in what else ""
        print(f"  {what:40s} {ms(values)}{extra}")
    for path, stamps in split.items():
        print(f"  split of a {path} handoff:")
        for what, values in stamps.items():
            print(f"    {what:38s} {ms(values)}")


if __name__ == "__main__":
    main()
