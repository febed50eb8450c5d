"""What bench/run.py writes: percentiles, the Markdown table, and the PNG plots."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Samples = dict[str, dict[str, list[float]]]
R_CASE, W_CASE = "R (read round trip)", "W (write round trip)"


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of ``samples`` (NaN when there are none)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(samples: Samples) -> list[dict[str, Any]]:
    """One row per case and library: count, p50 and p99 in microseconds, and as ratios to
    the run's R and W medians."""
    r = percentile(samples[R_CASE]["bare client"], 50)
    w = percentile(samples[W_CASE]["bare client"], 50)
    rows = []
    for case, libraries in samples.items():
        for library, found in libraries.items():
            p50, p99 = percentile(found, 50), percentile(found, 99)
            rows.append(
                {
                    "case": case,
                    "library": library,
                    "n": len(found),
                    "p50_us": p50 * 1e6,
                    "p99_us": p99 * 1e6,
                    "p50_R": p50 / r,
                    "p50_W": p50 / w,
                    "p99_R": p99 / r,
                    "p99_W": p99 / w,
                }
            )
    return rows


def _us(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _x(value: float) -> str:
    return "-" if not math.isfinite(value) else (f"{value:,.0f}" if value >= 100 else f"{value:.2f}")


def markdown(report: dict[str, Any], command: str) -> str:
    """The results page: machine, command, one table per backend, notes, plots."""
    m = report["machine"]
    out = [
        f"# coordkit benchmark suite, {report['date']}",
        "",
        f"Command: `{command}` ({report['seconds']:.0f} s for the whole run).",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, {m['platform']}; "
        f"load average {m['load_before']} before the run and {m['load_after']} after. The machine may "
        "be shared with other work, and figures move between runs: compare figures within this run "
        "only (every figure of a backend was measured against the same servers, minutes apart).",
        "",
        "Servers: " + "; ".join(f"{kind}: {v}" for kind, v in report["servers"].items()) + ".",
        "Peers: "
        + ", ".join(sorted({v for b in report["backends"].values() for v in b["notes"]["versions"].values()}))
        + ".",
        "",
        "p50 and p99 are nearest-rank percentiles of every sample; x R and x W divide them by the "
        "median read round trip (R: etcd `get` of a missing key, kazoo `exists`) and write round "
        "trip (W: etcd `put`, kazoo `set`) of the same backend in the same run, made with the bare "
        "client libraries.",
    ]
    for kind, found in report["backends"].items():
        out += [
            "",
            f"## {kind}",
            "",
            "| case | library | n | p50 µs | p99 µs | p50 x R | p50 x W | p99 x R | p99 x W |",
        ]
        out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|")
        for row in found["summary"]:
            times = f"{_us(row['p50_us'])} | {_us(row['p99_us'])}"
            ratios = " | ".join(_x(row[name]) for name in ("p50_R", "p50_W", "p99_R", "p99_W"))
            out.append(f"| {row['case']} | {row['library']} | {row['n']} | {times} | {ratios} |")
        notes = found["notes"]
        peers = "; ".join(notes.get("failover_peers", {}).values())
        out += [
            "",
            f"- election failover: coordkit Election; {peers}: the leader's process is SIGKILLed, "
            f"time from the kill to a leader here (session/lease TTL {2 if kind == 'etcd' else 1} s).",
        ]
        herd = "; ".join(f"{n} contenders: {h}" for n, h in notes["herd"].items())
        out.append(f"- coordkit waiters woken per release (a count, {{woken: releases}}): {herd}.")
        if "semaphore_wakes" in notes:
            wakes = notes["semaphore_wakes"]
            out.append(
                f"- coordkit semaphore: {wakes['queue_reads']} queue re-reads (wake-ups) per release over "
                f"{wakes['releases']} releases (1.0: each release woke only the waiter it admitted); "
                f"{wakes.get('told', '-')} window waits ended per release, by a departure told or "
                f"found when arming (a waiter watches only the limit, {wakes.get('limit', '-')}, "
                "nearest ahead; before, every release reached every waiter)."
            )
        if "memory" in notes:
            weighed = notes["memory"]
            out.append(
                f"- cache memory: {weighed['bytes_per_instance']:,.0f} bytes per instance with "
                f"{weighed['instances']:,} instances (tracemalloc: the cache and its watch's state)."
            )
        for size, held in notes.get("early_discover", {}).items():
            out.append(
                f"- cache cold start, {size} instances: discover() returned before the cache was full "
                f"(holding {held} instances; it waits at most the operation timeout); the figure is the "
                "time until the cache held them all, by its listener."
            )
        for what, why in notes["errors"].items():
            out.append(f"- {what}: failed or not measured: {why}")
        out += [
            "",
            f"![latency distributions, {kind}](distributions-{kind}.png)",
            f"![cost as load grows, {kind}](load-{kind}.png)",
        ]
    return "\n".join(out) + "\n"


def plots(report: dict[str, Any], samples: dict[str, Samples], into: Path) -> list[Path]:
    """distributions-<kind>.png (per case, per library, log scale) and load-<kind>.png
    (handoff p50 by contenders, cold start p50 by instances)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for kind, cases in samples.items():
        names = list(cases)
        cols = 3
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(15, 3.2 * rows), squeeze=False)
        for ax, case in zip(axes.flat, names, strict=False):
            libraries = [lib for lib, found in cases[case].items() if found]
            ax.boxplot(
                [[s * 1e6 for s in cases[case][lib]] for lib in libraries], whis=(1, 99), showfliers=False
            )
            ax.set_xticks(range(1, len(libraries) + 1), libraries, fontsize=8)
            ax.set_yscale("log")
            ax.set_title(case, fontsize=9)
            ax.set_ylabel("µs", fontsize=8)
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.suptitle(f"{kind}: latency per case (box: p25-p75, whiskers p1-p99), {report['date']}")
        fig.tight_layout()
        written.append(into / f"distributions-{kind}.png")
        fig.savefig(written[-1], dpi=80)
        plt.close(fig)
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
        _growth(left, cases, r"handoff, (\d+) contenders", "contenders", "handoff p50 (µs)")
        _growth(right, cases, r"cache cold start, (\d+) instances", "instances", "cold start p50 (µs)")
        right.set_xscale("log")
        fig.suptitle(f"{kind}: cost as load grows, {report['date']}")
        fig.tight_layout()
        written.append(into / f"load-{kind}.png")
        fig.savefig(written[-1], dpi=80)
        plt.close(fig)
    return written


def _growth(ax: Any, cases: Samples, pattern: str, xlabel: str, ylabel: str) -> None:
    series: dict[str, list[tuple[int, float]]] = {}
    for case, libraries in cases.items():
        match = re.fullmatch(pattern, case)
        if match:
            for lib, found in libraries.items():
                if found:
                    series.setdefault(lib, []).append((int(match.group(1)), percentile(found, 50) * 1e6))
    for lib, points in series.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=lib)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend(fontsize=8)
