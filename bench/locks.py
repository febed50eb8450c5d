#!/usr/bin/env python3
"""Benchmark: coordkit locks and elections against the protocol floor, python-etcd3 and kazoo.

    python bench/locks.py [--quick] [--json] [--backends etcd,zookeeper] [--processes]
                          [--iterations N] [--hold MS] [--etcd HOST:PORT] [--zookeeper HOST:PORT]

Starts one local etcd and one local ZooKeeper (coordkit.testing; ZooKeeper's JVM keeps its
optimizing JIT) unless given running ones, and prints per backend, in one run, medians of:

* R, one read round trip (etcd ``get`` of a missing key, kazoo ``exists``) and W, one plain
  write (etcd ``put``, kazoo ``set``), with the raw client libraries;
* the floor of an uncontended acquire + release with bare client calls (see _locks_raw.py),
  and coordkit's, python-etcd3's (etcd) and kazoo's (ZooKeeper) lock acquire + release;
* 16 contenders (threads by default, each with its own coordkit client): how many waiters
  each release woke, counted structurally, and the handoff (release call start to the next
  holder's acquire return) next to W + 2R and to the bare-call handoff floor;
* election: resign handoff (3 candidates), and failover after the leader's process is
  SIGKILLed (kill to a candidate here leading) next to the session TTL + W + 2R, and to that
  plus the server's expiry step (how late a server notices an expired session).

Uncontended figures are interleaved in blocks after a warm-up; handles are made once and
reused, for every library alike. Contenders hold 10 ms and re-join 5 ms after releasing, so
that handoffs are timed apart from re-joins (the bare handoff floor keeps the same rhythm).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this script
from _common import format_table, interleaved, local_servers, median_ms, ratio
from _locks_contend import contend, failover
from _locks_raw import EtcdRaw, ZkRaw

import coordkit
from coordkit.testing import install_sigterm_exit

TARGET_RATIO = 1.2


# --- one run -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Settings:
    iterations: int = 300
    warmup: int = 200  # per figure; the JVM compiles ZooKeeper's hot paths meanwhile
    contenders: int = 16
    rounds: int = 10
    candidates: int = 3
    election_rounds: int = 34
    hold: float = 0.010
    handoff_floor_rounds: int = 100
    failovers: int = 3
    etcd_ttl: float = 2.0
    zk_ttl: float = 1.0  # 2 x tickTime of the harness's server, ZooKeeper's minimum
    processes: bool = False

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            iterations=15,
            warmup=3,
            contenders=4,
            rounds=3,
            election_rounds=3,
            failovers=1,
            handoff_floor_rounds=5,
        )


def uncontended(kind: str, url: str, settings: Settings) -> tuple[dict[str, float], str]:
    """Medians in ms of R, W, the floor, coordkit's and the native lock's cycle (interleaved),
    and of the bare handoff; and the native lock's name."""
    endpoint = url.split("://", 1)[1]
    prefix = f"/bench-raw-{uuid.uuid4().hex[:8]}"
    raw: Any = EtcdRaw(endpoint, prefix) if kind == "etcd" else ZkRaw(endpoint, prefix)
    client = coordkit.connect(f"{url}/bench-{uuid.uuid4().hex[:8]}")
    lock = client.lock("uncontended")

    def coordkit_cycle() -> None:
        assert lock.acquire(timeout=5)
        lock.release()

    try:
        samples = interleaved(
            {
                "R": raw.read,
                "W": raw.write,
                "floor": raw.floor,
                "coordkit": coordkit_cycle,
                "native": raw.native_cycle,
            },
            settings.iterations,
            warmup=settings.warmup,
        )
        samples["handoff_floor"] = raw.handoffs(settings.handoff_floor_rounds, settings.hold)
    finally:
        client.close()
        raw.close()
    return {name: median_ms(values) for name, values in samples.items()}, raw.native


def bench_backend(kind: str, url: str, settings: Settings) -> dict[str, Any]:
    """Every figure of one backend (times in ms unless the name says s)."""
    flat, native = uncontended(kind, url, settings)
    r, w = flat["R"], flat["W"]
    result: dict[str, Any] = {
        "url": url,
        "R_ms": r,
        "W_ms": w,
        "W_over_R": ratio(w, r),
        "floor_ms": flat["floor"],
        "floor_over_R": ratio(flat["floor"], r),
        "coordkit_ms": flat["coordkit"],
        "coordkit_over_floor": ratio(flat["coordkit"], flat["floor"]),
        "native": native,
        "native_ms": flat["native"],
        "native_over_floor": ratio(flat["native"], flat["floor"]),
        "handoff_bound_ms": w + 2 * r,
        "handoff_floor_ms": flat["handoff_floor"],
        "hold_ms": settings.hold * 1000,
        "version": _server_version(kind, url),
    }
    result["lock_contention"] = contend(
        url,
        kind="lock",
        contenders=settings.contenders,
        rounds=settings.rounds,
        hold=settings.hold,
        processes=settings.processes,
    )
    result["election_handoff"] = contend(
        url,
        kind="election",
        contenders=settings.candidates,
        rounds=settings.election_rounds,
        hold=settings.hold,
        processes=settings.processes,
    )
    ttl = settings.etcd_ttl if kind == "etcd" else settings.zk_ttl
    result["failover"] = failover(url, ttl=ttl, repetitions=settings.failovers)
    fo = result["failover"]
    fo["bound_s"] = round(fo["ttl_s"] + (w + 2 * r) / 1000, 4)
    fo["expiry_step_s"] = _expiry_step(kind, url)
    fo["server_bound_s"] = round(fo["bound_s"] + fo["expiry_step_s"], 4)
    result["targets"] = _targets(result)
    return result


def _expiry_step(kind: str, url: str) -> float:
    """How late after its TTL the server may notice an expired session: etcd's lessor looks
    for expired leases every 500 ms (lease/lessor.go, runLoop); ZooKeeper expires sessions
    in buckets of tickTime (read with the ``conf`` four-letter word; NaN if refused)."""
    if kind == "etcd":
        return 0.5
    from coordkit.testing import four_letter_word

    try:
        conf = four_letter_word(url.split("://", 1)[1].split(",")[0], "conf")
        return int(conf.split("tickTime=", 1)[1].split()[0]) / 1000
    except (OSError, IndexError, ValueError):
        return float("nan")


def _server_version(kind: str, url: str) -> str:
    try:
        with coordkit.connect(url) as client:
            info = client.server_info()
        return f"{info.kind} {info.version}".strip()
    except coordkit.CoordkitError as exc:  # a label only
        return f"{kind} (version unknown: {exc})"


def _targets(result: dict[str, Any]) -> dict[str, bool]:
    bound, fo = result["handoff_bound_ms"], result["failover"]
    return {
        "uncontended_within_1.2x_floor": result["coordkit_over_floor"] <= TARGET_RATIO,
        "faster_than_native": result["coordkit_ms"] < result["native_ms"],
        "no_herd": result["lock_contention"]["no_herd"],
        "lock_handoff_within_W_2R": result["lock_contention"]["handoff_ms"] <= bound,
        "resign_handoff_within_W_2R": result["election_handoff"]["handoff_ms"] <= bound,
        "failover_within_TTL_W_2R": max(fo["failover_s"]) <= fo["bound_s"],
        "failover_within_server_bound": max(fo["failover_s"]) <= fo["server_bound_s"],
    }


# --- output ------------------------------------------------------------------------------------
def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def render(report: dict[str, Any]) -> str:
    """The human-readable table of a report (as printed without --json)."""
    out = [
        (
            f"coordkit lock benchmark: medians of {report['iterations']} iterations, "
            f"{report['cpus']} CPUs, python {report['python']}; x floor = ratio to the bare-call floor "
            "of the same operation"
        )
    ]
    for kind, res in report["backends"].items():
        out.append(f"\n{kind}  ({res['url']}, {res['version']})")
        out.append(format_table(_rows(res)))
        out.extend(_notes(res))
    return "\n".join(out)


def _rows(res: dict[str, Any]) -> list[list[str]]:
    r, w, floor, t = res["R_ms"], res["W_ms"], res["floor_ms"], res["targets"]
    bound, hfloor = res["handoff_bound_ms"], res["handoff_floor_ms"]
    lc, el = res["lock_contention"], res["election_handoff"]

    def row(label: str, ms: float, base: float | None, target: str = "") -> list[str]:
        return [label, f"{ms:.3f}", f"{ms / r:.2f}", "" if base is None else f"{ms / base:.2f}", target]

    return [
        ["", "ms", "x R", "x floor", "target"],
        row("R  read round trip", r, None),
        row("W  plain write", w, None),
        row("floor: acquire+release, bare calls", floor, floor),
        row(
            "coordkit Lock acquire+release",
            res["coordkit_ms"],
            floor,
            f"<= {TARGET_RATIO}x floor: {_mark(t['uncontended_within_1.2x_floor'])}; "
            f"< {res['native']}: {_mark(t['faster_than_native'])}",
        ),
        row(f"{res['native']} acquire+release", res["native_ms"], floor),
        row("floor: handoff, bare calls", hfloor, hfloor),
        row(
            f"lock handoff, {lc['contenders']} contenders ({lc['mode']})",
            lc["handoff_ms"],
            hfloor,
            f"<= W+2R {bound:.3f}: {_mark(t['lock_handoff_within_W_2R'])}",
        ),
        row(
            f"election resign handoff, {el['contenders']} candidates",
            el["handoff_ms"],
            hfloor,
            f"<= W+2R {bound:.3f}: {_mark(t['resign_handoff_within_W_2R'])}",
        ),
    ]


def _notes(res: dict[str, Any]) -> list[str]:
    t, lc, el, fo = res["targets"], res["lock_contention"], res["election_handoff"], res["failover"]
    herd = ", ".join(f"{n} waiter(s) x{c}" for n, c in sorted(lc["woken_per_release"].items()))
    runs = ", ".join(f"{s:.3f}" for s in fo["failover_s"])
    herd_line = (
        f"  herd check: {lc['releases']} releases woke {herd}"
        f" ({lc['uncontended_releases']} with nobody waiting); "
        f"spurious wakes {lc['spurious_wakes']}; queue re-reads per release "
        f"{lc['relists_per_release']}: {_mark(t['no_herd'])}"
    )
    rhythm = (
        f"  handoffs timed: lock {lc['handoffs']}, election {el['handoffs']}; each holder held "
        f"{res['hold_ms']:g} ms and re-joined {res['hold_ms'] / 2:g} ms after its release"
    )
    kill = (
        f"  failover after SIGKILL of the leader's process: {runs} s "
        f"(median {fo['failover_median_s']:.3f}); session TTL {fo['ttl_s']:g} s "
        f"(asked {fo['asked_ttl_s']:g}) + W + 2R = {fo['bound_s']:.3f} s: "
        f"{_mark(t['failover_within_TTL_W_2R'])}; plus the server's expiry step "
        f"{fo['expiry_step_s']:g} s = {fo['server_bound_s']:.3f} s: "
        f"{_mark(t['failover_within_server_bound'])}"
    )
    return [herd_line, rhythm, kill]


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (figures that could not be measured) as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations only (smoke test)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    parser.add_argument("--iterations", type=int, help="iterations per uncontended figure (default 300)")
    parser.add_argument("--backends", default="etcd,zookeeper", help="comma-separated: etcd, zookeeper")
    parser.add_argument(
        "--hold",
        type=float,
        help="ms each contender holds; it re-joins half that after releasing (default 10)",
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="contenders in processes instead of threads (one client each either way)",
    )
    parser.add_argument("--etcd", metavar="HOST:PORT", help="use this running etcd instead of starting one")
    parser.add_argument("--zookeeper", metavar="HOST:PORT", help="use this running ZooKeeper instead")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    install_sigterm_exit()  # a run stopped by a timeout still stops the servers it started
    args = parse(argv)
    settings = Settings.quick() if args.quick else Settings()
    if args.iterations:
        settings = dataclasses.replace(settings, iterations=args.iterations)
    if args.hold is not None:
        settings = dataclasses.replace(settings, hold=args.hold / 1000)
    settings = dataclasses.replace(settings, processes=args.processes)
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    unknown = set(kinds) - {"etcd", "zookeeper"}
    if unknown:
        print(f"unknown backend(s) {sorted(unknown)}: use etcd, zookeeper", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "iterations": settings.iterations,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "settings": dataclasses.asdict(settings),
        "backends": {},
    }
    started = time.monotonic()
    with local_servers(kinds, given={"etcd": args.etcd, "zookeeper": args.zookeeper}) as urls:
        for kind in kinds:
            report["backends"][kind] = bench_backend(kind, urls[kind], settings)
    report["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(_finite(report), indent=2, allow_nan=False))
    else:
        print(render(report))
        print(f"\n({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
