#!/usr/bin/env python3
"""Benchmark: coordkit.aio against the sync client, in one run, per backend.

    python bench/aio_lock.py [--iterations N] [--gets N] [--rounds N] [--backends etcd,zookeeper]
                             [--etcd HOST:PORT] [--zookeeper HOST:PORT]

Starts one local etcd and one local ZooKeeper (coordkit.testing) unless given running ones,
and prints per backend:

* the median of an uncontended acquire + release: ``await lock.acquire(); await
  lock.release()`` on an AsyncClient next to ``lock.acquire(); lock.release()`` on a sync
  Client, interleaved in blocks after a warm-up, and their ratio (the aim: at most 1.15);
  on etcd also the same ratio for the bare calls (a put and a delete on gRPC's sync stubs
  against grpc.aio's), the part of the ratio that is gRPC's own;
* the median time of N ``get``s (default 1,000): all at once on one loop
  (``asyncio.gather``: pipelined on one connection) next to the same N done one after the
  other by the sync client, and the speed-up.

Both clients live in one process and one event loop; the sync calls block the loop while
they run, which is what a sync caller would see, and nothing else runs meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this script
from _common import format_table, local_servers, median_ms, ratio

import coordkit
import coordkit.aio

TARGET_RATIO = 1.15


async def lock_cycles(url: str, iterations: int, block: int = 20, warmup: int = 100) -> tuple[float, float]:
    """Medians (seconds) of an uncontended sync and async acquire + release, interleaved."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    with coordkit.connect(url) as sync:
        async with coordkit.aio.connect(url) as aio:
            sync_lock, aio_lock = sync.lock(f"{name}-s"), aio.lock(f"{name}-a")
            samples: dict[str, list[float]] = {"sync": [], "async": []}
            for i in range(-warmup, iterations, block):
                for _ in range(block):
                    start = time.perf_counter()
                    sync_lock.acquire()
                    sync_lock.release()
                    if i >= 0:
                        samples["sync"].append(time.perf_counter() - start)
                for _ in range(block):
                    start = time.perf_counter()
                    await aio_lock.acquire()
                    await aio_lock.release()
                    if i >= 0:
                        samples["async"].append(time.perf_counter() - start)
    return statistics.median(samples["sync"]), statistics.median(samples["async"])


async def bare_etcd_cycles(url: str, iterations: int, block: int = 20, warmup: int = 100) -> float:
    """The same ratio for the bare calls of a cycle (a put, then a delete, on raw stubs): gRPC's
    sync stubs against grpc.aio's over one channel each, interleaved. grpc.aio's own overhead
    per call is the floor under coordkit.aio's ratio."""
    import grpc

    from coordkit.backends.etcd.compat import import_etcd3

    rpc = import_etcd3().etcdrpc
    endpoint = url.removeprefix("etcd://").split("/")[0].split(",")[0]
    key = f"/bench-bare-{uuid.uuid4().hex[:8]}".encode()
    put, delete = rpc.PutRequest(key=key, value=b"x"), rpc.DeleteRangeRequest(key=key)
    samples: dict[str, list[float]] = {"sync": [], "async": []}
    with grpc.insecure_channel(endpoint) as channel:
        sync_kv = rpc.KVStub(channel)
        async with grpc.aio.insecure_channel(endpoint) as aio_channel:
            aio_kv = rpc.KVStub(aio_channel)
            for i in range(-warmup, iterations, block):
                for _ in range(block):
                    start = time.perf_counter()
                    sync_kv.Put(put, timeout=5)
                    sync_kv.DeleteRange(delete, timeout=5)
                    if i >= 0:
                        samples["sync"].append(time.perf_counter() - start)
                for _ in range(block):
                    start = time.perf_counter()
                    await aio_kv.Put(put, timeout=5)
                    await aio_kv.DeleteRange(delete, timeout=5)
                    if i >= 0:
                        samples["async"].append(time.perf_counter() - start)
    return ratio(statistics.median(samples["async"]), statistics.median(samples["sync"]))


async def gets(url: str, count: int, rounds: int) -> tuple[float, float]:
    """Medians (seconds) of ``count`` sequential sync gets and ``count`` concurrent async gets."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with coordkit.connect(url) as sync:
        for i in range(10):
            sync.put(f"{prefix}/{i}", f"value {i}")
        async with coordkit.aio.connect(url) as aio:
            keys = [f"{prefix}/{i % 10}" for i in range(count)]
            await asyncio.gather(*(aio.get(k) for k in keys))  # warm-up
            for key in keys:
                sync.get(key)
            sequential, concurrent = [], []
            for _ in range(rounds):
                start = time.perf_counter()
                for key in keys:
                    sync.get(key)
                sequential.append(time.perf_counter() - start)
                start = time.perf_counter()
                found = await asyncio.gather(*(aio.get(k) for k in keys))
                concurrent.append(time.perf_counter() - start)
                assert all(entry is not None for entry in found)
    return statistics.median(sequential), statistics.median(concurrent)


async def measure(urls: dict[str, str], args: argparse.Namespace) -> list[list[str]]:
    rows = [
        [
            "backend",
            "sync lock ms",
            "async lock ms",
            "async/sync",
            "bare gRPC aio/sync",
            f"{args.gets} seq sync gets ms",
            f"{args.gets} concurrent async gets ms",
            "speed-up",
        ]
    ]
    for kind, url in urls.items():
        sync_cycle, aio_cycle = await lock_cycles(url, args.iterations)
        bare = f"{await bare_etcd_cycles(url, args.iterations):.2f}" if kind == "etcd" else "-"
        sequential, concurrent = await gets(url, args.gets, args.rounds)
        cycle_ratio = ratio(aio_cycle, sync_cycle)
        rows.append(
            [
                kind,
                f"{median_ms([sync_cycle]):.3f}",
                f"{median_ms([aio_cycle]):.3f}",
                f"{cycle_ratio:.2f}" + ("" if cycle_ratio <= TARGET_RATIO else " (over 1.15)"),
                bare,
                f"{sequential * 1000:.1f}",
                f"{concurrent * 1000:.1f}",
                f"{ratio(sequential, concurrent):.1f}x",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="memory,etcd,zookeeper")
    parser.add_argument("--etcd")
    parser.add_argument("--zookeeper")
    args = parser.parse_args()
    kinds = [k for k in args.backends.split(",") if k]
    servers = [k for k in kinds if k != "memory"]
    with local_servers(servers, given={"etcd": args.etcd, "zookeeper": args.zookeeper}) as urls:
        ordered = {k: (f"memory://bench-{uuid.uuid4().hex[:6]}" if k == "memory" else urls[k]) for k in kinds}
        rows = asyncio.run(measure(ordered, args))
    print(format_table(rows))


if __name__ == "__main__":
    main()
