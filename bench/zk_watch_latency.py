#!/usr/bin/env python3
"""Benchmark: ZooKeeper watches, one-shot ("before") vs persistent recursive ("after"), vs etcd.

    python bench/zk_watch_latency.py [--quick]

Starts one local ZooKeeper and one local etcd (coordkit.testing) and prints, in one run,
medians (of 300 changes each for "visible" and "config", 20 with --quick) of:

* R and W: kazoo ``exists`` of a missing node and ``set`` (etcd: ``get`` and ``put`` with
  python-etcd3), the round trips the goals are stated in;
* visible: from the start of ``register()`` here to the instance in the live cache of
  ANOTHER process (stamped in its listener with ``time.monotonic_ns()``, CLOCK_MONOTONIC,
  one clock for the machine); goal on ZooKeeper: <= W + 2R;
* config: from the start of ``Config.set`` here to another process's ``on_change``
  listener; goal on ZooKeeper: <= 1.5x etcd's;
* cold: ``discover()`` of a 1,000-instance service in a fresh client; goal <= 5x etcd's;
* config floor ("bare" rows): the same change made with the bare client libraries, one key: a
  kazoo ``set`` here, and in the other process a data watch whose notification is followed by
  the ``get`` that reads the value (ZooKeeper's notifications carry none); python-etcd3's
  ``put`` and a watch, whose event carries the value. Their ratio is what the protocols allow
  the config goal on this machine.

"zk-oneshot" forces the one-shot watches (the fallback for servers older than 3.6) by the
backend's ``persistent_watches`` switch; "zk-persistent" is the default on 3.6+.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import coordkit
from coordkit import Put
from coordkit.discovery import ServiceInstance
from coordkit.discovery.formats import format_for
from coordkit.testing import install_sigterm_exit

COLD_SIZE = 1000
TIMEOUT = 30.0


def connect(url: str, mode: str) -> coordkit.Client:
    client = coordkit.connect(url)
    if mode == "zk-oneshot":
        client.backend._persistent = False  # type: ignore[attr-defined]  # the fallback switch
    return client


# --- the other process --------------------------------------------------------------------
def observe_bare(kind: str, endpoint: str, key: str) -> None:
    """Child process: print ``k=VALUE NS`` for each value of ``key`` seen with the bare client
    library (kazoo: watch, then read; python-etcd3: the watch event's value)."""
    if kind == "etcd":
        from coordkit.backends.etcd.compat import import_etcd3

        host, port = endpoint.rsplit(":", 1)
        etcd = import_etcd3().client(host=host, port=int(port))

        def on_event(response: Any) -> None:
            stamp = time.monotonic_ns()
            for event in getattr(response, "events", ()):
                print(f"k={event.value.decode()} {stamp}", flush=True)

        etcd.add_watch_callback(key, on_event)
        print("ready", flush=True)
        sys.stdin.read()
        etcd.close()
        return
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=endpoint)
    zk.start(10)

    def on_change(_event: Any) -> None:  # kazoo's callback thread: re-arm and read in one call
        value, _ = zk.get(key, watch=on_change)
        print(f"k={value.decode()} {time.monotonic_ns()}", flush=True)

    zk.get(key, watch=on_change)
    print("ready", flush=True)
    sys.stdin.read()
    zk.stop()
    zk.close()


def observe(url: str, mode: str, what: str, name: str) -> None:
    """Child process: print ``KEY NS`` for each change its cache/config sees."""
    if mode == "bare":
        observe_bare(what, url, name)
        return
    with connect(url, mode) as client:
        if what == "discovery":
            with client.discover(name) as cache:
                known: set[str] = set()

                def changed(found: Any) -> None:
                    stamp = time.monotonic_ns()
                    ids = {i.id for i in found}
                    lines = [f"+{i} {stamp}" for i in ids - known] + [f"-{i} {stamp}" for i in known - ids]
                    known.clear()
                    known.update(ids)
                    print("\n".join(lines), flush=True)

                cache.add_listener(changed)
                print("ready", flush=True)
                sys.stdin.read()
        else:
            config = client.config(name)

            def on_change(changes: Any) -> None:
                stamp = time.monotonic_ns()
                print("\n".join(f"{k}={config.get(k)} {stamp}" for k in changes), flush=True)

            config.on_change(on_change)
            print("ready", flush=True)
            sys.stdin.read()
            config.close()


class Observer:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--observe", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()
        if self.lines.get(timeout=60) != "ready":
            raise RuntimeError("observer did not start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def wait_for(self, key: str) -> int:
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            found, _, stamp = line.rpartition(" ")
            if found == key:
                return int(stamp)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- the cases ----------------------------------------------------------------------------
def round_trips(kind: str, endpoint: str, n: int) -> tuple[float, float]:
    key = f"/bench-rt/{uuid.uuid4().hex}"
    reads, writes = [], []
    if kind == "etcd":
        from coordkit.backends.etcd.compat import import_etcd3

        host, port = endpoint.rsplit(":", 1)
        etcd = import_etcd3().client(host=host, port=int(port))
        read, write, done = (lambda: etcd.get(key + "-x")), (lambda: etcd.put(key, b"v")), etcd.close
    else:
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=endpoint)
        zk.start(10)
        zk.create(key, b"v", makepath=True)
        read, write = (lambda: zk.exists(key + "-x")), (lambda: zk.set(key, b"v"))

        def done() -> None:
            zk.stop()
            zk.close()

    for i in range(n + 20):
        for fn, samples in ((read, reads), (write, writes)):
            started = time.perf_counter()
            fn()
            if i >= 20:
                samples.append(time.perf_counter() - started)
    done()
    return statistics.median(reads), statistics.median(writes)


def visibility(url: str, mode: str, n: int) -> list[float]:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    observer = Observer(url, mode, "discovery", service)
    samples = []
    try:
        with connect(url, mode) as client:
            for i in range(n + 5):
                started = time.monotonic_ns()
                registration = client.register(service, "10.0.0.1", 8080, id=f"i{i}")
                seen = observer.wait_for(f"+i{i}")
                if i >= 5:
                    samples.append((seen - started) / 1e9)
                registration.deregister()
                observer.wait_for(f"-i{i}")
    finally:
        observer.close()
    return samples


def config_latency(url: str, mode: str, n: int) -> list[float]:
    app = f"app-{uuid.uuid4().hex[:8]}"
    with connect(url, mode) as client, client.config(app, writable=True) as config:
        config.set("seed", 0)
        observer = Observer(url, mode, "config", app)
        samples = []
        try:
            for i in range(n + 5):
                started = time.monotonic_ns()
                config.set("k", i)
                seen = observer.wait_for(f"k={i}")
                if i >= 5:
                    samples.append((seen - started) / 1e9)
        finally:
            observer.close()
    return samples


def bare_config_latency(kind: str, endpoint: str, n: int) -> list[float]:
    """The config floor: seconds from a bare write of one key here to another process having
    its value (see observe_bare)."""
    key = f"/bench-bare/{uuid.uuid4().hex}"
    if kind == "etcd":
        from coordkit.backends.etcd.compat import import_etcd3

        host, port = endpoint.rsplit(":", 1)
        etcd = import_etcd3().client(host=host, port=int(port))
        write, done = (lambda value: etcd.put(key, value)), etcd.close
        write(b"seed")
    else:
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=endpoint)
        zk.start(10)
        zk.create(key, b"seed", makepath=True)
        write = lambda value: zk.set(key, value)  # noqa: E731

        def done() -> None:
            zk.stop()
            zk.close()

    observer = Observer(endpoint, "bare", kind, key)
    samples = []
    try:
        for i in range(n + 5):
            started = time.monotonic_ns()
            write(str(i).encode())
            seen = observer.wait_for(f"k={i}")
            if i >= 5:
                samples.append((seen - started) / 1e9)
    finally:
        observer.close()
        done()
    return samples


def cold_start(url: str, mode: str, service: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        with connect(url, mode) as reader:
            started = time.perf_counter()
            with reader.discover(service) as cache:
                samples.append(time.perf_counter() - started)
                assert len(cache.instances) == COLD_SIZE
    return samples


def fill(url: str) -> str:
    service = f"big-{uuid.uuid4().hex[:8]}"
    with coordkit.connect(url) as writer:
        fmt = format_for(writer.backend.capabilities.layout)
        for start in range(0, COLD_SIZE, 50):
            writer.commit(
                [
                    Put(
                        f"/services/{service}/i{n:04d}",
                        fmt.encode(ServiceInstance(service, f"i{n:04d}", "10.0.0.1", 10000 + n)),
                        create=True,
                    )
                    for n in range(start, start + 50)
                ]
            )
    return service


def main() -> None:
    install_sigterm_exit()  # a run stopped by a timeout still stops the servers it started
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--observe", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.observe:
        observe(*args.observe)
        return
    from coordkit.testing import EtcdServer, ZooKeeperServer

    n, cold_n = (20, 3) if args.quick else (300, 7)
    results: dict[str, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        zk_url = stack.enter_context(ZooKeeperServer()).url + "/bench-zkw"
        etcd_url = stack.enter_context(EtcdServer()).url + "/bench-zkw"
        for kind, url in (("zookeeper", zk_url), ("etcd", etcd_url)):
            endpoint = url.split("://", 1)[1].split("/", 1)[0]
            r, w = round_trips(kind, endpoint, 400)
            floor = statistics.median(bare_config_latency(kind, endpoint, n))
            results["rt-" + kind] = {"R_ms": r * 1e3, "W_ms": w * 1e3, "bare_config_ms": floor * 1e3}
        services = {"zk": fill(zk_url), "etcd": fill(etcd_url)}
        for mode, url in (("zk-oneshot", zk_url), ("zk-persistent", zk_url), ("etcd", etcd_url)):
            service = services["etcd" if mode == "etcd" else "zk"]
            results[mode] = {
                "visible_ms": statistics.median(visibility(url, mode, n)) * 1e3,
                "config_ms": statistics.median(config_latency(url, mode, n)) * 1e3,
                "cold_1000_ms": statistics.median(cold_start(url, mode, service, cold_n)) * 1e3,
            }
    zk, etcd = results["rt-zookeeper"], results["rt-etcd"]
    target = zk["W_ms"] + 2 * zk["R_ms"]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"R/W ms: zookeeper {zk['R_ms']:.3f}/{zk['W_ms']:.3f}, etcd {etcd['R_ms']:.3f}/{etcd['W_ms']:.3f}")
    print(
        f"{'':14} {'visible ms':>10} {'/(W+2R)':>8} {'config':>10} {'/etcd':>6} {'cold ms':>9} {'/etcd':>6}"
    )
    for mode in ("zk-oneshot", "zk-persistent", "etcd"):
        row = results[mode]
        print(
            f"{mode:14} {row['visible_ms']:10.2f} {row['visible_ms'] / target:8.2f} "
            f"{row['config_ms']:10.2f} {row['config_ms'] / results['etcd']['config_ms']:6.2f} "
            f"{row['cold_1000_ms']:9.1f} {row['cold_1000_ms'] / results['etcd']['cold_1000_ms']:6.2f}"
        )
    zk_floor, etcd_floor = zk["bare_config_ms"], etcd["bare_config_ms"]
    print(
        f"config floor (bare clients): zookeeper {zk_floor:.2f} ms, etcd {etcd_floor:.2f} ms, "
        f"ratio {zk_floor / etcd_floor:.2f}"
    )
    print(
        f"ZooKeeper W + 2R = {target:.2f} ms; medians of one run; command: python bench/zk_watch_latency.py"
    )


if __name__ == "__main__":
    main()
