"""How long ``coordkit.connect()`` takes to fail, and with which reason, when it cannot work.

    python bench/connect_failures.py [--timeout SECONDS] [--runs N] [--json]

Cases, for zk:// and etcd:// alike: nothing listens on the port (refused), a host name that does
not resolve, and the URL pointed at the other kind of server (an etcd port for zk://, a ZooKeeper
port for etcd://). Both servers are started here (coordkit.testing). Each figure is the median
time until connect() raised, as a share of the configured timeout: the goal is a small fraction
of it (well under a half), with a reason of its own per case. The reason printed is the first
line of the error's message.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import format_table

import coordkit
from coordkit.testing import EtcdServer, ZooKeeperServer, install_sigterm_exit


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _time_to_fail(url: str, timeout: float) -> tuple[float, str, str]:
    start = time.monotonic()
    try:
        coordkit.connect(url, timeout=timeout).close()
    except coordkit.CoordkitError as exc:
        return time.monotonic() - start, type(exc).__name__, str(exc).splitlines()[0]
    raise SystemExit(f"connect({url!r}) succeeded: the case is not a failure")


def main() -> None:
    install_sigterm_exit()  # a run stopped by a timeout still stops the servers it started
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=4.0, help="connect()'s timeout (default 4 s)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    with ZooKeeperServer() as zk, EtcdServer() as etcd:
        closed = f"127.0.0.1:{_free_port()}"
        cases = {
            "zk:// refused": f"zk://{closed}",
            "zk:// name does not resolve": "zk://no-such-host.invalid:2181",
            "zk:// at an etcd port": f"zk://{etcd.endpoints[0]}",
            "etcd:// refused": f"etcd://{closed}",
            "etcd:// name does not resolve": "etcd://no-such-host.invalid:2379",
            "etcd:// at a ZooKeeper port": f"etcd://{zk.endpoints[0]}",
        }
        results = []
        for case, url in cases.items():
            runs = [_time_to_fail(url, args.timeout) for _ in range(args.runs)]
            seconds = statistics.median(run[0] for run in runs)
            results.append(
                {
                    "case": case,
                    "seconds": seconds,
                    "share_of_timeout": seconds / args.timeout,
                    "error": runs[-1][1],
                    "reason": runs[-1][2],
                }
            )
    if args.json:
        print(json.dumps({"timeout": args.timeout, "runs": args.runs, "cases": results}, indent=2))
        return
    print(f"connect() failures, timeout {args.timeout:g} s, median of {args.runs} runs")
    rows = [["case", "time", "share of timeout", "error"]]
    rows += [
        [r["case"], f"{r['seconds'] * 1000:.0f} ms", f"{r['share_of_timeout']:.3f}", r["error"]]
        for r in results
    ]
    print(format_table(rows))
    for r in results:
        print(f"  {r['case']}: {r['reason']}")


if __name__ == "__main__":
    main()
