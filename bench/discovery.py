#!/usr/bin/env python3
"""Benchmark: how fast a registration reaches another process's live cache, and cold starts.

    python bench/discovery.py [--quick] [--json] [--backends etcd,zookeeper]
                              [--etcd HOST:PORT] [--zookeeper HOST:PORT]

Starts one local etcd and one local ZooKeeper (coordkit.testing) unless given running ones,
and prints per backend, in one run, the medians of:

* R, one read round trip (etcd ``get`` of a missing key, kazoo ``exists``) and W, one plain
  write (etcd ``put``, kazoo ``set``), with the raw client libraries;
* visibility: from the start of a ``client.register()`` call here to the moment the instance
  appears in the live cache (``client.discover()``) of ANOTHER process, which stamps each
  change in its listener. Both processes read ``time.monotonic_ns()``, which on Linux is
  CLOCK_MONOTONIC, one clock for the whole machine. Target: at most W + 2R;
* cold start: ``client.discover()`` of a service with 1,000 instances, in a fresh client
  (one range read on etcd; the watch's pipelined reads plus one listing on ZooKeeper).
"""

from __future__ import annotations

import argparse
import gc
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, interleaved, local_servers, median_ms, ratio

import coordkit
from coordkit import Put
from coordkit.backends.base import Op
from coordkit.discovery import ServiceInstance
from coordkit.discovery.formats import format_for

COLD_SIZE = 1000
STARTUP_TIMEOUT = 60.0  # the observer connects and fills its cache before it says "ready"
CHANGE_TIMEOUT = 30.0  # far beyond any visibility measured; only a lost change takes this long


# --- R and W with the raw client libraries ----------------------------------------------------
def raw_round_trips(kind: str, endpoint: str, iterations: int) -> tuple[float, float]:
    """Median seconds of one read and one plain write."""
    key = f"/bench-discovery/{uuid.uuid4().hex}"
    if kind == "etcd":
        from coordkit.backends.etcd.compat import import_etcd3

        host, port = endpoint.rsplit(":", 1)
        etcd = import_etcd3().client(host=host, port=int(port))
        try:
            samples = interleaved(
                {"R": lambda: etcd.get(key + "-missing"), "W": lambda: etcd.put(key, b"v")},
                iterations,
                warmup=10,
            )
            etcd.delete(key)
        finally:
            etcd.close()
    else:
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=endpoint)
        zk.start(10)
        try:
            zk.create(key, b"v", makepath=True)
            samples = interleaved(
                {"R": lambda: zk.exists(key + "-missing"), "W": lambda: zk.set(key, b"v")},
                iterations,
                warmup=10,
            )
            zk.delete(key)
        finally:
            zk.stop()
            zk.close()
    return statistics.median(samples["R"]), statistics.median(samples["W"])


# --- the observer: another process with a live cache ------------------------------------------
def observe(url: str, service: str) -> None:
    """Run as the child process: print ``+ ID NS`` / ``- ID NS`` for every change seen by
    the live cache of ``service``, stamped in the listener, flushed at once."""
    with coordkit.connect(url) as client, client.discover(service) as cache:
        known: set[str] = set()

        def changed(found: tuple[ServiceInstance, ...]) -> None:
            stamp = time.monotonic_ns()
            ids = {i.id for i in found}
            lines = [f"+ {i} {stamp}" for i in sorted(ids - known)] + [
                f"- {i} {stamp}" for i in sorted(known - ids)
            ]
            known.clear()
            known.update(ids)
            if lines:
                print("\n".join(lines), flush=True)

        cache.add_listener(changed)
        print("ready", flush=True)
        sys.stdin.read()  # until the parent closes our stdin


class Observer:
    def __init__(self, url: str, service: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--observe", url, service],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        # A reader thread turns the pipe into a queue, so that every wait has a deadline (a
        # blocking readline has none); the times measured are the observer's own stamps.
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if self.next_line(STARTUP_TIMEOUT) != "ready":
            raise RuntimeError("the observer process did not start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)  # end of file: the observer has ended

    def next_line(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=max(0.0, timeout))
        except queue.Empty:
            raise TimeoutError(f"the observer printed nothing within {timeout:g}s") from None
        if line is None:
            raise RuntimeError("the observer process ended")
        return line

    def wait_for(self, sign: str, instance_id: str, timeout: float = CHANGE_TIMEOUT) -> int:
        """The observer's timestamp (ns) of the change ``sign`` (+ or -) of ``instance_id``;
        TimeoutError if it does not report that change within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found_sign, found_id, stamp = self.next_line(deadline - time.monotonic()).split()
            if (found_sign, found_id) == (sign, instance_id):
                return int(stamp)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)  # it ends at the end of file, which the exit has just given it
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def visibility(url: str, iterations: int) -> list[float]:
    """Seconds from each register() call start to the instance in the other process's cache."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    observer = Observer(url, service)
    samples = []
    try:
        with coordkit.connect(url) as client:
            for n in range(iterations + 5):
                started = time.monotonic_ns()
                registration = client.register(service, "10.0.0.1", 8080, id=f"i{n}")
                seen = observer.wait_for("+", registration.id)
                if n >= 5:  # the first few warm the connections and the JIT
                    samples.append((seen - started) / 1e9)
                registration.deregister()
                observer.wait_for("-", registration.id)
    finally:
        observer.close()
    return samples


# --- cold start -------------------------------------------------------------------------------
def cold_start(
    url: str, iterations: int, size: int = COLD_SIZE, changes: int = 0, memory: bool = False
) -> list[float]:
    """Seconds taken by discover() of a ``size``-instance service, each in a fresh client,
    until the cache holds them all (``early_returns``: a discover() that returned before).

    With ``changes``, the last cache then sees that many registrations one by one: their
    seconds from the register() call start to the cache's listener are in ``last_changes``.
    With ``memory``, one more cache, not timed, is weighed: ``last_memory`` gets its bytes
    per instance (see :func:`weigh`).
    """
    service = f"big-{uuid.uuid4().hex[:8]}"
    last_changes.clear()
    early_returns.clear()
    failures.clear()
    # The writer's calls get a long timeout: writing and deleting 10,000 instances on a loaded
    # machine may take more than the default 5 s, which no figure here depends on.
    with coordkit.connect(url, timeout=60.0) as writer:
        fmt = format_for(writer.backend.capabilities.layout)  # the layout the cache reads
        batch: list[Op] = []
        for n in range(size):
            instance = ServiceInstance(service, f"i{n:05d}", "10.0.0.1", 10000 + n % 50000)
            batch.append(Put(f"/services/{service}/{instance.id}", fmt.encode(instance), create=True))
            if len(batch) == 50 or n == size - 1:
                writer.commit(batch)
                batch = []
        samples = []
        for rep in range(iterations + 1):
            if rep == iterations and (last_changes or not changes):
                break
            # One more run, with a long operation timeout, if every run failed to time changes.
            options = {"timeout": 60.0} if rep == iterations else {}
            try:
                with coordkit.connect(url, **options) as reader:  # type: ignore[arg-type]
                    started = time.perf_counter()
                    with reader.discover(service) as cache:
                        if len(cache.instances) < size:  # discover() gave up waiting: time the fill
                            early_returns.append(len(cache.instances))
                            _until_holding(cache, size)
                        if not options:
                            samples.append(time.perf_counter() - started)
                        if rep >= iterations - 1 and changes:
                            last_changes.extend(_changes(writer, cache, service, size, changes))
            except coordkit.CoordkitError as exc:  # noted by the caller; the run is not a sample
                failures.append(f"{type(exc).__name__}: {exc}")
        last_memory.clear()
        if memory:
            try:
                last_memory.append(weigh(url, service, size))
            except (coordkit.CoordkitError, TimeoutError) as exc:  # noted by the caller
                failures.append(f"weighing the cache: {type(exc).__name__}: {exc}")
        writer.delete(f"/services/{service}", recursive=True)
    return samples


def weigh(url: str, service: str, size: int) -> float:
    """Bytes of Python memory per instance that a live cache of ``service`` (``size``
    instances) holds, with its watch's own state: tracemalloc's traced memory once the cache
    is full, less that of the same connected client before discover(), after a collection."""
    with coordkit.connect(url, timeout=60.0) as reader:
        tracemalloc.start()
        try:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            with reader.discover(service) as cache:
                _until_holding(cache, size)
                gc.collect()
                held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    return held / size


last_changes: list[float] = []  # the changes timed by the latest cold_start(changes=N)
last_memory: list[float] = []  # bytes per instance of the latest cold_start(memory=True)
early_returns: list[int] = []  # instances held when discover() returned early, latest cold_start()
failures: list[str] = []  # the errors of discover() runs that failed, latest cold_start()


def _until_holding(cache: Any, size: int) -> None:
    """Wait (by the cache's listener) until ``cache`` holds ``size`` instances."""
    full = threading.Event()
    cache.add_listener(lambda found: full.set() if len(found) >= size else None)
    if len(cache.instances) < size and not full.wait(STARTUP_TIMEOUT * 5):
        raise TimeoutError(f"the cache held {len(cache.instances)} of {size} after {STARTUP_TIMEOUT * 5:g}s")


def _changes(writer: coordkit.Client, cache: Any, service: str, size: int, count: int) -> list[float]:
    """Seconds from each register() call start to ``cache``'s listener holding one more."""
    grown = threading.Condition()
    seen = [size]

    def changed(found: tuple[ServiceInstance, ...]) -> None:
        with grown:
            seen[0] = len(found)
            grown.notify_all()

    cache.add_listener(changed)
    took = []
    for n in range(count):
        started = time.perf_counter()
        writer.register(service, "10.0.0.2", 9000 + n, id=f"new{n}")
        wanted = size + n + 1
        with grown:
            if not grown.wait_for(lambda: seen[0] >= wanted, CHANGE_TIMEOUT):  # noqa: B023 - awaited here
                raise TimeoutError(f"change {n} did not reach the cache of {size} within {CHANGE_TIMEOUT}s")
        took.append(time.perf_counter() - started)
    return took


# --- the run ----------------------------------------------------------------------------------
def run(kind: str, url: str, quick: bool) -> dict[str, Any]:
    endpoint = url.split("://", 1)[1].split("/", 1)[0]
    read, write = raw_round_trips(kind, endpoint, 100 if quick else 400)
    seen = visibility(url, 20 if quick else 60)
    cold = cold_start(url, 2 if quick else 5)
    target = write + 2 * read
    return {
        "backend": kind,
        "R_ms": read * 1000,
        "W_ms": write * 1000,
        "visible_ms": median_ms(seen),
        "visible_p90_ms": sorted(seen)[int(0.9 * (len(seen) - 1))] * 1000,
        "target_W_plus_2R_ms": target * 1000,
        "visible_over_target": ratio(statistics.median(seen), target),
        "cold_start_1000_ms": median_ms(cold),
        "cold_start_in_R": ratio(statistics.median(cold), read),
    }


def table(results: list[dict[str, Any]]) -> Iterator[str]:
    rows = [
        ["", "R ms", "W ms", "visible ms", "p90 ms", "W+2R ms", "visible/(W+2R)", "cold 1000 ms", "cold / R"]
    ]
    for r in results:
        rows.append(
            [
                r["backend"],
                f"{r['R_ms']:.2f}",
                f"{r['W_ms']:.2f}",
                f"{r['visible_ms']:.2f}",
                f"{r['visible_p90_ms']:.2f}",
                f"{r['target_W_plus_2R_ms']:.2f}",
                f"{r['visible_over_target']:.2f}",
                f"{r['cold_start_1000_ms']:.1f}",
                f"{r['cold_start_in_R']:.0f}",
            ]
        )
    yield format_table(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--backends", default="etcd,zookeeper")
    parser.add_argument("--etcd", metavar="HOST:PORT")
    parser.add_argument("--zookeeper", metavar="HOST:PORT")
    parser.add_argument("--observe", nargs=2, metavar=("URL", "SERVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.observe:
        observe(*args.observe)
        return
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    with local_servers(kinds, given={"etcd": args.etcd, "zookeeper": args.zookeeper}) as urls:
        results = [run(kind, f"{urls[kind]}/bench-{uuid.uuid4().hex[:8]}", args.quick) for kind in kinds]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("coordkit discovery: registration visibility in another process, and cold start")
    for line in table(results):
        print(line)
    print("target: visible <= W + 2R (visible/(W+2R) <= 1.00); compare figures within one run only")


if __name__ == "__main__":
    main()
