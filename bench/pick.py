"""Per-pick cost of every balancing strategy as the number of instances grows.

Prints, for 10, 100, 1,000 and 10,000 instances, the median over several runs of the mean
cost of one ``Balancer.pick()`` in microseconds (time.perf_counter_ns over many picks, loop
overhead included), and how long the strategy's rebuild takes when the set changes.
Targets (issue 4): <= 2 us for round robin, weighted and the power-of-two strategies,
<= 5 us for consistent hashing, flat as instances grow.

    python bench/pick.py [--runs 7] [--picks 20000] [--sizes 10,100,1000,10000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from coordkit.balancing import STRATEGIES, Balancer, StaticInstances
from coordkit.discovery.instance import ServiceInstance

TARGETS_US = {
    "round_robin": 2.0,
    "weighted": 2.0,
    "least_outstanding": 2.0,
    "peak_ewma": 2.0,
    "random": 2.0,
    "consistent_hash": 5.0,
}


def _instances(n: int) -> list[ServiceInstance]:
    return [
        ServiceInstance(
            "bench",
            f"instance-{k:05d}",
            f"10.{k // 65536}.{k // 256 % 256}.{k % 256}",
            8080,
            weight=1 + k % 5,
        )
        for k in range(n)
    ]


def _warm_load(balancer: Balancer, n: int) -> None:
    """Give the load-aware strategies something to compare: requests in flight and latencies."""
    strategy = balancer.strategy
    for k, instance in enumerate(balancer.eligible[: min(n, 2000)]):
        for _ in range(k % 3):
            strategy.on_start(instance)
        strategy.on_start(instance)
        strategy.on_result(instance, 0.001 * (1 + k % 7), True)


def measure(name: str, n: int, *, runs: int, picks: int) -> tuple[float, float]:
    """(median microseconds per pick, milliseconds to build the strategy's state)."""
    source = StaticInstances(_instances(n))
    started = time.perf_counter()
    balancer = Balancer(source, name, ejection=False)
    build_ms = (time.perf_counter() - started) * 1000
    _warm_load(balancer, n)
    keys = [f"user-{k}" for k in range(picks)] if name == "consistent_hash" else [None] * picks
    pick = balancer.pick
    for key in keys[:1000]:  # warm-up
        pick(key)
    results = []
    gc.disable()
    try:
        for _ in range(runs):
            begin = time.perf_counter_ns()
            for key in keys:
                pick(key)
            results.append((time.perf_counter_ns() - begin) / picks / 1000)
    finally:
        gc.enable()
    balancer.close()
    return statistics.median(results), build_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--picks", type=int, default=20000)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    header = f"{'strategy':<18}" + "".join(f"{n:>10}" for n in sizes) + "   target   build ms (largest)"
    print("microseconds per Balancer.pick(), median of", args.runs, "runs of", args.picks, "picks")
    print(header)
    print("-" * len(header))
    for name in STRATEGIES:
        row, build = [], 0.0
        for n in sizes:
            per_pick, build = measure(name, n, runs=args.runs, picks=args.picks)
            row.append(per_pick)
        verdict = "ok" if max(row) <= TARGETS_US[name] else "MISSED"
        print(
            f"{name:<18}"
            + "".join(f"{v:>10.3f}" for v in row)
            + f"   <= {TARGETS_US[name]:.0f} {verdict:<6} {build:>8.1f}"
        )


if __name__ == "__main__":
    main()
