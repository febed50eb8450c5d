"""What instrumentation costs on the hot paths: off (the default), on, and the code before it.

For ``Balancer.pick()`` (round robin and consistent hashing over 100 instances) and for an
uncontended ``Lock`` acquire + release and a ``get`` on memory:// (no network, so that the
instrumentation is not lost in a round trip), prints the median cost of one call in
microseconds with metrics disabled and enabled (on a private registry, spans to a no-op
tracer). With ``--baseline DIR`` (a checkout of coordkit without the instrumentation, e.g.
the main branch) it runs the same figures there in a subprocess and prints them side by
side: the difference "off - before" is what the disabled hooks cost.

    python bench/metrics_cost.py [--runs 9] [--calls 20000] [--baseline /work/main]

Figures swing by several percent between runs on a shared machine: compare within a run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import coordkit
from coordkit.balancing import Balancer, StaticInstances
from coordkit.discovery.instance import ServiceInstance

Figures = dict[str, float]


def _per_call_us(fn: Callable[[], object], calls: int, runs: int) -> float:
    for _ in range(min(calls, 1000)):  # warm-up
        fn()
    results = []
    gc.disable()
    try:
        for _ in range(runs):
            begin = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            results.append((time.perf_counter_ns() - begin) / calls / 1000)
    finally:
        gc.enable()
    return statistics.median(results)


def _workloads() -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (one call, how many calls per run relative to the balancer's)."""
    instances = [ServiceInstance("bench", f"i-{k:03d}", f"10.0.0.{k}", 8080) for k in range(100)]
    rr = Balancer(StaticInstances(instances), "round_robin", ejection=False)
    ch = Balancer(StaticInstances(instances), "consistent_hash", ejection=False)
    client = coordkit.connect(f"memory://metrics-cost-{os.getpid()}")
    client.put("/k", "v")
    lock = client.lock("bench")

    def lock_cycle() -> None:
        lock.acquire()
        lock.release()

    try:
        from coordkit.backends import probe as probes

        def probe_test() -> bool:
            return probes.active is not None  # what every instrumented place does first

    except ImportError:  # the baseline has no probe slot: the loop and the call alone

        def probe_test() -> bool:
            return False

    return {
        "probe test alone": (probe_test, 1),
        "pick round_robin": (rr.pick, 1),
        "pick consistent_hash": (lambda: ch.pick("user-42"), 1),
        "memory get": (lambda: client.get("/k"), 10),
        "memory lock cycle": (lock_cycle, 20),
    }


def measure(mode: str, calls: int, runs: int) -> Figures:
    """Figures of this interpreter's coordkit with metrics ``off`` or ``on``."""
    if mode == "on":
        from prometheus_client import CollectorRegistry

        import coordkit.metrics

        coordkit.metrics.enable(registry=CollectorRegistry())
    return {name: _per_call_us(fn, max(1, calls // div), runs) for name, (fn, div) in _workloads().items()}


def _in_subprocess(path: str | None, mode: str, calls: int, runs: int) -> Figures:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = path  # that checkout's coordkit is imported first
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--calls", str(calls), "--runs", str(runs)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each process")
    parser.add_argument("--baseline", help="a coordkit checkout without the instrumentation")
    parser.add_argument("--child", choices=("off", "on"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.calls, args.runs)))
        return
    columns = [("before", args.baseline, "off")] if args.baseline else []
    columns += [("off", None, "off"), ("on", None, "on")]
    rounds: dict[str, list[Figures]] = {label: [] for label, _, _ in columns}
    for _ in range(args.rounds):  # each process in turn, so that a slow spell hits all alike
        for label, path, mode in columns:
            rounds[label].append(_in_subprocess(path, mode, args.calls, args.runs))
    table = {
        label: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for label, runs in rounds.items()
    }
    print(f"microseconds per call, median of {args.rounds} processes x {args.runs} runs")
    header = f"{'call':<22}" + "".join(f"{label:>10}" for label, _, _ in columns)
    header += "   off-before" if args.baseline else ""
    print(header)
    print("-" * len(header))
    for name in table["off"]:
        row = f"{name:<22}" + "".join(f"{table[label][name]:>10.3f}" for label, _, _ in columns)
        if args.baseline:
            row += f"   {table['off'][name] - table['before'][name]:>+10.3f}"
        print(row)


if __name__ == "__main__":
    main()
