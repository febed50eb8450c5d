#!/usr/bin/env python3
"""Benchmark: a contended ZooKeeper lock handoff, next to the bare calls it needs.

    python bench/zk_handoff.py [--rounds N] [--blocks N] [--hold MS] [--zookeeper HOST:PORT]

Starts one local ZooKeeper (coordkit.testing) unless given one, and in one run, alternating
blocks, prints medians of the bare handoff floor (delete, ``exists`` watch event, children
read; see _locks_raw.py) and of coordkit's contended handoff (release call start -> the
waiter's acquire returns; two clients taking turns), with its split. The handoffs and their
probe are etcd_handoff.py's (``handoffs``), on the backend's own departure wait.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this script
from _common import local_servers
from _locks_raw import ZkRaw
from etcd_handoff import handoffs, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60, help="handoffs per block")
    parser.add_argument("--blocks", type=int, default=5, help="alternating blocks per figure")
    parser.add_argument("--hold", type=float, default=20.0, help="ms the holder waits before releasing")
    parser.add_argument("--zookeeper", help="HOST:PORT of a running ZooKeeper (else one is started)")
    args = parser.parse_args()
    hold = args.hold / 1000
    with local_servers(["zookeeper"], given={"zookeeper": args.zookeeper}) as urls:
        url = urls["zookeeper"]
        raw = ZkRaw(url.removeprefix("zk://").split("/")[0], f"/bench-{uuid.uuid4().hex[:8]}")
        samples: dict[str, list[float]] = defaultdict(list)
        split: dict[str, list[float]] = defaultdict(list)
        try:
            for block in range(args.blocks + 1):  # the first block warms up, and is dropped
                took, stamps = handoffs(url, "own", args.rounds, hold)
                floor = raw.handoffs(args.rounds, hold)
                if block:
                    samples["contended handoff"] += took[2:]  # the first ones set up sessions
                    samples["bare handoff floor"] += floor
                    for what, values in stamps.items():
                        split[what] += values
        finally:
            raw.close()
    floor_s = statistics.median(samples["bare handoff floor"])
    print(f"ZooKeeper handoff, medians, {args.blocks} blocks x {args.rounds} rounds, hold {args.hold:g} ms")
    for what, values in samples.items():
        print(f"  {what:40s} {ms(values)}  ({statistics.median(values) / floor_s:.2f}x floor)")
    print("  split of a handoff:")
    for what, values in split.items():
        print(f"    {what:38s} {ms(values)}")


if __name__ == "__main__":
    main()
