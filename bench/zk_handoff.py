#!/usr/bin/env python3
"""Benchmark: a contended ZooKeeper lock handoff, next to the bare calls it needs.

    python bench/zk_handoff.py [--rounds N] [--warmup N] [--hold MS] [--zookeeper HOST:PORT]

Starts one local ZooKeeper (coordkit.testing) unless given one, and, one of each per round
(see etcd_handoff.py for why), prints medians of the bare handoff floor (delete, ``exists``
watch event, children read; see _locks_raw.py) and of coordkit's contended handoff (release
call start -> the waiter's acquire returns; two clients taking turns), with its split. The handoffs and their
probe are etcd_handoff.py's (``Handoffs``), on the backend's own departure wait.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this script
from _common import local_servers
from _locks_raw import ZkRaw
from etcd_handoff import Handoffs, ms, paired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="handoffs per figure")
    parser.add_argument("--warmup", type=int, default=10, help="rounds of each, not counted")
    parser.add_argument("--hold", type=float, default=20.0, help="ms the holder waits before releasing")
    parser.add_argument("--zookeeper", help="HOST:PORT of a running ZooKeeper (else one is started)")
    args = parser.parse_args()
    hold = args.hold / 1000
    samples: dict[str, list[float]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(local_servers(["zookeeper"], given={"zookeeper": args.zookeeper}))
        url = url["zookeeper"]
        raw = ZkRaw(url.removeprefix("zk://").split("/")[0], f"/bench-{uuid.uuid4().hex[:8]}")
        stack.callback(raw.close)
        floor = stack.enter_context(raw.handoff_floor())
        pair = stack.enter_context(Handoffs(url, "own"))
        for round_ in range(args.warmup + args.rounds):  # one of each per round: the same conditions
            for what, one in (("bare handoff floor", floor.one), ("contended handoff", pair.one)):
                took = one(hold)
                if round_ >= args.warmup:
                    samples[what].append(took)
    base = samples["bare handoff floor"]
    floor_s = statistics.median(base)
    print(
        f"ZooKeeper handoff, medians of {args.rounds} rounds (one of each per round), hold {args.hold:g} ms"
    )
    for what, values in samples.items():
        print(
            f"  {what:40s} {ms(values)}  ({statistics.median(values) / floor_s:.2f}x floor;"
            f" per round {paired(values, base)})"
        )
    print("  split of a handoff (warm-up rounds included):")
    for what, values in pair.probe.stamps.items():
        print(f"    {what:38s} {ms(values)}")
    print(f"    {'the floor: delete round trip':38s} {ms(floor.drops)}")
    print(f"    {'the floor: woken -> children read done':38s} {ms(floor.reads)}")


if __name__ == "__main__":
    main()
