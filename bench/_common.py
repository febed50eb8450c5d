"""Shared helpers of the benchmark scripts in ``bench/``: timing, local servers, tables.

Benchmarks report medians of many short calls, interleaved in small blocks so that a slow
spell of the machine (another process, a JIT compiling, a disk flush) hits every figure of a
run alike: compare figures only within one run (see ../shared/SERVERS.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "Hold",
    "admissions_of",
    "format_table",
    "handoffs_of",
    "interleaved",
    "local_servers",
    "median_ms",
    "ratio",
    "zookeeper_jvm_args",
]


def median_ms(samples: Sequence[float]) -> float:
    """Median of ``samples`` (seconds) in milliseconds; NaN when there are none."""
    return statistics.median(samples) * 1000 if samples else float("nan")


def ratio(value: float, base: float) -> float:
    """``value / base``, NaN when ``base`` is not positive."""
    return value / base if base > 0 else float("nan")


def interleaved(
    measures: Mapping[str, Callable[[], None]], iterations: int, *, block: int = 20, warmup: int = 0
) -> dict[str, list[float]]:
    """Time each callable ``iterations`` times, in round-robin blocks of ``block`` calls.

    ``warmup`` calls of each are made first and not recorded (connections, JIT, caches).
    Returns the durations in seconds per name, in call order.
    """
    for fn in measures.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in measures}
    while any(len(found) < iterations for found in samples.values()):
        for name, fn in measures.items():
            found = samples[name]
            for _ in range(min(block, iterations - len(found))):
                started = time.perf_counter()
                fn()
                found.append(time.perf_counter() - started)
    return samples


@dataclasses.dataclass
class Hold:
    """One tenure of a contender: when it asked, got, and gave up the lock (perf_counter s)."""

    who: int
    key: str
    asked: float  # acquire call start
    acquired: float  # acquire return
    released: float = float("nan")  # release call start


def handoffs_of(holds: Sequence[Hold]) -> list[float]:
    """Seconds from each release call start to the next holder's acquire return, for the
    holds (sorted by acquisition) whose next holder was already waiting when it released."""
    return [
        holds[i + 1].acquired - holds[i].released
        for i in range(len(holds) - 1)
        if holds[i + 1].asked < holds[i].released
    ]


def admissions_of(holds: Sequence[Hold]) -> list[float]:
    """For a semaphore (holders leave in any order): seconds from the latest release before
    each acquisition to that acquisition, for those that were waiting when it happened."""
    releases = sorted(h.released for h in holds)
    found = []
    for hold in holds:
        before = [r for r in releases if hold.asked < r < hold.acquired]
        if before:
            found.append(hold.acquired - before[-1])
    return found


def zookeeper_jvm_args() -> tuple[str, ...]:
    """The harness's default JVM flags minus ``-XX:TieredStopAtLevel=1``.

    The harness stops the JIT at its quick tier to start fast for tests; a benchmark wants the
    optimizing compiler, as production servers run.
    """
    from coordkit.testing import ZooKeeperServer

    default = inspect.signature(ZooKeeperServer).parameters["jvm_args"].default
    return tuple(arg for arg in default if not arg.startswith("-XX:TieredStopAtLevel"))


@contextlib.contextmanager
def local_servers(kinds: Sequence[str], *, given: Mapping[str, str | None]) -> Iterator[dict[str, str]]:
    """Yield ``{kind: url}`` for each of ``kinds`` ("etcd", "zookeeper").

    A kind with an endpoint in ``given`` (``host:port``) uses that running server; the others
    are started here as single local servers (coordkit.testing) and stopped on exit.
    """
    from coordkit.testing import EtcdServer, ZooKeeperServer

    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for kind in kinds:
            endpoint = given.get(kind)
            scheme = "etcd" if kind == "etcd" else "zk"
            if endpoint:
                urls[kind] = f"{scheme}://{endpoint}"
                continue
            server: Any = EtcdServer() if kind == "etcd" else ZooKeeperServer(jvm_args=zookeeper_jvm_args())
            stack.enter_context(server)
            urls[kind] = server.url
        yield urls


def format_table(rows: Sequence[Sequence[str]], *, indent: str = "  ") -> str:
    """Rows of cells as aligned text columns (first column left-aligned, others right)."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)
