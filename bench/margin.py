"""The ownership margin, measured: from a holder's last belief to the next holder's acquisition.

    python bench/margin.py [--runs N] [--ttl SECONDS] [--json]

For each backend, one local 3-member cluster; per run, two worker processes
(``coordkit.testing.worker``) contend for one lock and log every belief with
``time.monotonic_ns()``. The holder is then either paused (SIGSTOP) for 2.5x the TTL, or cut off
through a blackholing proxy for 1.5x the TTL with ``lose_on_suspend=False`` (the case where
only the clock ends ownership). The figure is the gap between the holder's last tick that still
believed and the other worker's acquisition (``coordkit.testing.history.handover_gaps``):
positive means nobody believed twice; the smaller it is, the closer the client's deadline
runs to the servers' expiry. Each run's history also goes through the checkers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid

from coordkit.testing import EtcdCluster, ZooKeeperEnsemble
from coordkit.testing.history import check_exclusive, check_tokens_increase, handover_gaps
from coordkit.testing.proxy import FaultProxy
from coordkit.testing.workers import Workers

DEADLINE = 30.0


def _one_run(cluster: EtcdCluster | ZooKeeperEnsemble, fault: str, ttl: float) -> float:
    namespace = f"/margin-{uuid.uuid4().hex[:8]}"
    direct = f"{cluster.scheme}://{','.join(cluster.endpoints)}{namespace}"
    with FaultProxy(cluster.endpoints) as proxy, Workers(tempfile.mkdtemp(prefix="coordkit-margin-")) as ws:
        holder_url = proxy.url(cluster.scheme, namespace) if fault == "cut" else direct
        a = ws.start("a", "lock", holder_url, res="r", ttl=ttl, lose_on_suspend=fault != "cut")
        a.wait_for("acquired", DEADLINE)
        b = ws.start("b", "lock", direct, res="r", ttl=ttl, hold=0.2)
        b.wait_for("connected", DEADLINE)
        start = time.monotonic_ns()
        if fault == "pause":
            a.pause()
        else:
            proxy.blackhole()
        b.wait_for("acquired", DEADLINE, since=start)
        time.sleep(max(0.0, start / 1e9 + (2.5 if fault == "pause" else 1.5) * ttl - time.monotonic()))
        if fault == "pause":
            a.resume()
        else:
            proxy.heal()
        a.wait_for("lost_noticed", DEADLINE, since=start)
        ws.stop()
        history = ws.history()
    violations = check_exclusive(history) + check_tokens_increase(history)
    if violations:
        raise SystemExit("VIOLATION: " + "; ".join(violations))
    gaps = [gap for before, after, gap in handover_gaps(history, lost_only=True) if after.start >= start]
    return min(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    for kind, make in (("etcd", EtcdCluster), ("zookeeper", ZooKeeperEnsemble)):
        with make(3) as cluster:
            for fault in ("pause", "cut"):
                gaps = [_one_run(cluster, fault, args.ttl) for _ in range(args.runs)]
                results[f"{kind} {fault}"] = {
                    "min_ms": min(gaps),
                    "median_ms": statistics.median(gaps),
                    "runs": len(gaps),
                }
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return
    print(f"last believed -> next acquired (ttl {args.ttl:g}s, default margin), ms:")
    for name, figures in results.items():
        print(
            f"  {name:16} min {figures['min_ms']:8.1f}  median {figures['median_ms']:8.1f}  "
            f"({figures['runs']} runs)"
        )


if __name__ == "__main__":
    main()
