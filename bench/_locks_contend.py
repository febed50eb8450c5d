"""Contenders and failover for bench/locks.py: herd counts, handoffs, leader failover.

Contenders are threads (or processes), each with its own coordkit client. Each client's
backend is instrumented to count wake-ups structurally: every return of ``wait_gone`` (with
the key waited for) and every re-read of the queue, so a herd shows as several waiters woken
by one release, whatever the timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _common import Hold, admissions_of, handoffs_of, median_ms

import coordkit
from coordkit.testing import eventually

__all__ = ["SEMAPHORE_LIMIT", "WakeLog", "contend", "failover"]

SEMAPHORE_LIMIT = 2  # the semaphore case's limit: contenders beyond it wait

now = time.perf_counter


@dataclass
class WakeLog:
    """Every return of a waiter's ``wait_gone`` (key, time, whether the key was gone), how
    often the queue was listed again after one, and how many semaphore window waits
    (``wait_any_gone``) a departure ended: the waiters it reached."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    wakes: list[tuple[str, float, bool]] = field(default_factory=list)
    relists: int = 0
    told: int = 0
    waiting: threading.Event = field(default_factory=threading.Event)

    def instrument(self, backend: Any) -> None:
        wait_gone, queue_list, wait_any_gone = backend.wait_gone, backend.queue_list, backend.wait_any_gone

        def counted_wait(key: str, timeout: float | None, wake: threading.Event, **options: Any) -> bool:
            self.waiting.set()
            gone = wait_gone(key, timeout, wake, **options)
            with self.lock:
                self.wakes.append((key, now(), gone))
            return gone

        def counted_any(ahead: Any, timeout: float | None, wake: threading.Event, **options: Any) -> Any:
            self.waiting.set()
            gone = wait_any_gone(ahead, timeout, wake, **options)
            if gone:
                with self.lock:
                    self.told += 1
            return gone

        def counted_list(path: str, **options: Any) -> Any:
            with self.lock:
                self.relists += 1
            return queue_list(path, **options)

        backend.wait_gone, backend.queue_list = counted_wait, counted_list
        backend.wait_any_gone = counted_any


def _enter_leave(
    client: coordkit.Client, kind: str, name: str, who: int
) -> tuple[Any, Callable[[], Any], Callable[[], None]]:
    if kind == "lock":
        handle: Any = client.lock(name)
        return handle, lambda: handle.acquire(timeout=30), handle.release
    if kind == "semaphore":
        handle = client.semaphore(name, SEMAPHORE_LIMIT)
        return handle, lambda: handle.acquire(timeout=30), handle.release
    handle = client.election(name)
    return handle, lambda: handle.campaign(f"candidate-{who}", timeout=30), handle.resign


def _take_turns(
    client: coordkit.Client,
    *,
    kind: str,
    who: int,
    rounds: int,
    hold: float,
    contenders: int,
    claim_first: Callable[[], bool],
    all_queued: Any,
) -> list[Hold]:
    """One contender's rounds: acquire, hold ``hold`` s, release, pause ``hold / 2`` s.

    The very first holder of the run waits until every contender is queued, then sets
    ``all_queued`` (a threading or multiprocessing Event); no holder releases before that. A
    semaphore has other holders meanwhile: were they to go on with their rounds, a contender
    that finished them would leave the queue for good, and a first holder slow to look (a
    loaded machine) would wait for a full queue that can no longer come.
    """
    handle, enter, leave = _enter_leave(client, kind, "contended", who)
    backend = client.backend
    holds: list[Hold] = []
    for _ in range(rounds):
        asked = now()
        if not enter():
            raise TimeoutError(f"contender {who} waited 30 s")
        holds.append(Hold(who, handle.key, asked, now()))
        if claim_first():  # the class's queue_list: the instance's is counted as a wake-up
            try:
                _await(lambda: len(type(backend).queue_list(backend, "contended")[0]) >= contenders)
            finally:
                all_queued.set()  # on a failure too: the others go on, and this error is reported
        elif not all_queued.wait(60):
            raise TimeoutError(f"contender {who}: the first holder never saw every contender queued")
        time.sleep(hold)
        holds[-1].released = now()
        leave()
        time.sleep(hold / 2)  # re-join amid the next hold, away from the handoffs being timed
    return holds


def _contend_threads(
    base: str, kind: str, contenders: int, rounds: int, hold: float
) -> tuple[list[Hold], WakeLog]:
    clients = [coordkit.connect(base) for _ in range(contenders)]
    log, holds, errors = WakeLog(), [], []
    for client in clients:
        log.instrument(client.backend)
    ready, claimed, all_queued = threading.Barrier(contenders), threading.Lock(), threading.Event()

    def run(who: int) -> None:
        try:
            ready.wait()
            holds.extend(
                _take_turns(
                    clients[who],
                    kind=kind,
                    who=who,
                    rounds=rounds,
                    hold=hold,
                    contenders=contenders,
                    claim_first=lambda: claimed.acquire(False),
                    all_queued=all_queued,
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported below, after the other threads finish
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(contenders)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for client in clients:
            client.close()
    if errors:
        raise RuntimeError(f"{kind} contention failed: {errors[0]!r}") from errors[0]
    return holds, log


def _process_contender(
    base: str,
    kind: str,
    who: int,
    rounds: int,
    hold: float,
    contenders: int,
    ready: Any,
    first: Any,
    all_queued: Any,
    results: Any,
) -> None:
    """One contender in its own process (multiprocessing spawn): reports its holds and wakes."""
    try:
        client = coordkit.connect(base)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        results.put((who, [], [], 0, repr(exc)))
        return
    log = WakeLog()
    log.instrument(client.backend)

    def claim() -> bool:
        with first.get_lock():
            won, first.value = first.value == 0, 1
        return won

    try:
        ready.wait()
        holds = _take_turns(
            client,
            kind=kind,
            who=who,
            rounds=rounds,
            hold=hold,
            contenders=contenders,
            claim_first=claim,
            all_queued=all_queued,
        )
        results.put((who, [vars(h) for h in holds], log.wakes, log.relists, None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        results.put((who, [], [], 0, repr(exc)))
    finally:
        client.close()


def _contend_processes(
    base: str, kind: str, contenders: int, rounds: int, hold: float
) -> tuple[list[Hold], WakeLog]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # forking a process that runs gRPC is unsafe
    ready, first, results = ctx.Barrier(contenders, timeout=120), ctx.Value("i", 0), ctx.Queue()
    all_queued = ctx.Event()
    procs = [
        ctx.Process(
            target=_process_contender,
            daemon=True,
            args=(base, kind, i, rounds, hold, contenders, ready, first, all_queued, results),
        )
        for i in range(contenders)
    ]
    for proc in procs:
        proc.start()
    log, holds = WakeLog(), []
    try:
        for _ in procs:
            who, found, wakes, relists, error = results.get(timeout=180)
            if error:
                raise RuntimeError(f"{kind} contender process {who} failed: {error}")
            holds += [Hold(**h) for h in found]
            log.wakes += wakes
            log.relists += relists
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    return holds, log


def contend(
    url: str, *, kind: str, contenders: int, rounds: int, hold: float, processes: bool = False
) -> dict[str, Any]:
    """``contenders`` threads (or processes), each with its own client, take ``kind``
    ("lock"/"election"/"semaphore") ``rounds`` times each, holding ``hold`` seconds each
    time. Returns herd counts and handoffs (a semaphore's: see admissions_of)."""
    base = f"{url}/bench-{uuid.uuid4().hex[:8]}"
    run = _contend_processes if processes else _contend_threads
    holds, log = run(base, kind, contenders, rounds, hold)
    found = _summarize(sorted(holds, key=lambda h: h.acquired), log, contenders)
    if kind == "semaphore":  # waiters wait for their window (wait_any_gone), not wait_gone
        found["handoff_s"] = admissions_of(holds)
        found["handoffs"], found["handoff_ms"] = len(found["handoff_s"]), median_ms(found["handoff_s"])
    found["mode"] = "processes" if processes else "threads"
    return found


def _await(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    # A short interval: the benchmark times what follows, so notice the condition soon.
    eventually(condition, timeout=timeout, interval=0.005)


def _summarize(holds: list[Hold], log: WakeLog, contenders: int) -> dict[str, Any]:
    woken = [0] * len(holds)
    spurious = 0
    for key, at, gone in log.wakes:
        if not gone:
            spurious += 1
            continue
        # A wake belongs to the latest release of its key before it (etcd keys repeat per session).
        owners = [i for i, h in enumerate(holds) if h.key == key and h.released <= at]
        if owners:
            woken[max(owners, key=lambda i: holds[i].released)] += 1
    handoffs = handoffs_of(holds)
    # A release whose successor asked only after it had nobody to wake: a contender late to
    # re-join (a loaded machine) found the queue empty. Those are counted apart, and must wake
    # nobody; each other release must wake exactly its one waiter.
    histogram: dict[str, int] = {}
    uncontended = []
    for i, count in enumerate(woken[:-1]):
        if holds[i + 1].asked >= holds[i].released:
            uncontended.append(count)
        else:
            histogram[str(count)] = histogram.get(str(count), 0) + 1
    return {
        "contenders": contenders,
        "releases": len(holds) - 1,
        "woken_per_release": histogram,  # {"1": n} when each awaited release woke exactly one waiter
        "uncontended_releases": len(uncontended),
        "spurious_wakes": spurious,
        "relists_per_release": round(log.relists / max(1, len(holds) - 1), 3),
        "told_per_release": round(log.told / max(1, len(holds) - 1), 3),
        "no_herd": set(histogram) == {"1"} and not any(uncontended) and woken[-1] == 0 and spurious == 0,
        "handoffs": len(handoffs),
        "handoff_ms": median_ms(handoffs),
        "handoff_s": handoffs,  # every handoff timed, for percentiles and plots
    }


# --- failover: the leader's process is killed ------------------------------------------------
_CHILD = """
import json, sys, time, coordkit
client = coordkit.connect(sys.argv[1], ttl=float(sys.argv[3]))
election = client.election(sys.argv[2])
assert election.campaign("doomed", timeout=30)
print(json.dumps({"ttl": client.backend.session_ttl, "key": election.key}), flush=True)
time.sleep(600)
"""


def failover(url: str, *, ttl: float, repetitions: int) -> dict[str, Any]:
    """SIGKILL a leader running in a child process; time kill -> a candidate here leads."""
    base = f"{url}/bench-{uuid.uuid4().hex[:8]}"
    client = coordkit.connect(base)
    log = WakeLog()
    log.instrument(client.backend)
    times, ttls = [], []
    try:
        for rep in range(repetitions):
            took, granted = _one_failover(client, base, f"failover-{rep}", ttl, log)
            times.append(took)
            ttls.append(granted)
    finally:
        client.close()
    return {
        "asked_ttl_s": ttl,
        "ttl_s": max(ttls),
        "failover_s": [round(t, 3) for t in times],
        "failover_median_s": round(sorted(times)[len(times) // 2], 3),
    }


def _one_failover(
    client: coordkit.Client, base: str, name: str, ttl: float, log: WakeLog
) -> tuple[float, float]:
    """Seconds from the SIGKILL of a leading child process to a candidate here leading, and
    the session TTL the child was granted."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, base, name, str(ttl)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = child.stdout
    assert out is not None
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(out.readline()), daemon=True)
        reader.start()
        reader.join(30)
        if not line or not line[0].strip():
            child.kill()
            raise RuntimeError(f"the leader process did not lead: {child.communicate()[1][-2000:]}")
        granted = float(json.loads(line[0])["ttl"])
        election = client.election(name)
        won: list[float] = []
        log.waiting.clear()

        def campaign() -> None:
            if election.campaign("survivor", timeout=60):
                won.append(now())

        candidate = threading.Thread(target=campaign, daemon=True)
        candidate.start()
        # Killed before its watch is in place, the waiter still finds the key: a session
        # outlives its process by at least 2/3 of the TTL (heartbeats every TTL/3).
        if not log.waiting.wait(30):
            raise TimeoutError("the waiter never started waiting")
        killed = now()
        os.kill(child.pid, signal.SIGKILL)
        candidate.join(60)
        if not won:
            raise RuntimeError(f"no new leader of {name} within 60 s of the kill")
        election.resign()
        return won[0] - killed, granted
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
