"""The peers of bench/run.py: kazoo, python-etcd3 and tooz locks and elections, contended and
failed over the same way as coordkit's (bench/_locks_contend.py).

This module imports no coordkit at its top: tooz runs in the suite's own virtualenv
(``bench/.venv``, see ``bench/run.py --setup``), where this file runs as a script and prints one
JSON document of samples (seconds)::

    bench/.venv/bin/python bench/_peers.py tooz zookeeper HOST:PORT [--quick]

A peer's handle is ``(acquire, release)``; each contender has its own connection.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Hold, admissions_of, handoffs_of

now = time.perf_counter
Handle = tuple[Callable[[], Any], Callable[[], Any]]


def _etcd3() -> Any:
    try:  # python-etcd3 0.12 with current protobuf, as coordkit imports it
        from coordkit.backends.etcd.compat import import_etcd3

        return import_etcd3()
    except ImportError:  # the suite's own virtualenv: protobuf 3.20, plain import
        import etcd3

        return etcd3


class Peer:
    """How one library connects, locks, and stays leader in a child process."""

    name = ""
    failover_label = ""

    def __init__(self, kind: str, endpoint: str, ttl: float) -> None:
        self.kind, self.endpoint, self.ttl = kind, endpoint, ttl

    def connect(self) -> Any:
        raise NotImplementedError

    def lock(self, conn: Any, name: str) -> Handle:
        raise NotImplementedError

    def close(self, conn: Any) -> None:
        raise NotImplementedError

    def version(self) -> str:
        from importlib.metadata import version

        label = "python-etcd3" if self.name == "etcd3" else self.name
        return f"{label} {version(self.name)}"


class KazooPeer(Peer):
    name = "kazoo"
    failover_label = "kazoo Election"

    def connect(self) -> Any:
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.endpoint, timeout=self.ttl)
        client.start(timeout=10)
        return client

    def lock(self, conn: Any, name: str) -> Handle:
        handle = conn.Lock(f"/bench-peers/{name}")
        return (lambda: handle.acquire(timeout=60)), handle.release

    def semaphore(self, conn: Any, name: str, limit: int) -> Handle:
        handle = conn.Semaphore(f"/bench-peers/{name}", max_leases=limit)
        return (lambda: handle.acquire(timeout=60)), handle.release

    def lead(self, conn: Any, name: str, led: Callable[[], None]) -> None:
        conn.Election(f"/bench-peers/{name}").run(led)

    def close(self, conn: Any) -> None:
        conn.stop()
        conn.close()


class Etcd3Peer(Peer):
    name = "etcd3"  # the distribution of python-etcd3
    failover_label = "python-etcd3 Lock (leader while held)"

    def connect(self) -> Any:
        host, port = self.endpoint.rsplit(":", 1)
        return _etcd3().client(host=host, port=int(port))

    def lock(self, conn: Any, name: str) -> Handle:
        handle = conn.lock(f"bench-peers-{name}", ttl=max(1, round(self.ttl)))
        return (lambda: handle.acquire(timeout=60)), handle.release

    def lead(self, conn: Any, name: str, led: Callable[[], None]) -> None:
        self.held = conn.lock(f"bench-peers-{name}", ttl=max(1, round(self.ttl)))
        assert self.held.acquire(timeout=60)
        led()
        self.held.release()

    def close(self, conn: Any) -> None:
        conn.close()


class ToozPeer(Peer):
    name = "tooz"
    failover_label = "tooz Lock (leader while held)"

    def url(self) -> str:
        ttl = max(1, round(self.ttl))
        if self.kind == "zookeeper":
            return f"zookeeper://{self.endpoint}?timeout={ttl}"
        return f"etcd3+http://{self.endpoint}?timeout={ttl}&lock_timeout={ttl}"

    def connect(self) -> Any:
        from tooz import coordination

        coordinator = coordination.get_coordinator(self.url(), uuid.uuid4().hex.encode())
        coordinator.start(start_heart=True)
        return coordinator

    def lock(self, conn: Any, name: str) -> Handle:
        handle = conn.get_lock(f"bench-peers-{name}".encode())
        return (lambda: handle.acquire(blocking=60)), handle.release

    def lead(self, conn: Any, name: str, led: Callable[[], None]) -> None:
        acquire, release = self.lock(conn, name)
        assert acquire()
        led()
        release()

    def close(self, conn: Any) -> None:
        conn.stop()

    def version(self) -> str:
        from importlib.metadata import version

        driver = "kazoo" if self.kind == "zookeeper" else "etcd3gw"
        return f"tooz {version('tooz')} ({driver} {version(driver)})"


PEERS: dict[str, type[Peer]] = {"kazoo": KazooPeer, "etcd3": Etcd3Peer, "tooz": ToozPeer}


def uncontended(peer: Peer, iterations: int, warmup: int) -> list[float]:
    """Seconds of each acquire + release of one lock nobody else wants."""
    conn = peer.connect()
    try:
        acquire, release = peer.lock(conn, f"alone-{uuid.uuid4().hex[:8]}")
        samples = []
        for n in range(warmup + iterations):
            started = now()
            assert acquire()
            release()
            if n >= warmup:
                samples.append(now() - started)
        return samples
    finally:
        peer.close(conn)


def contend(peer: Peer, contenders: int, rounds: int, hold: float, *, limit: int = 0) -> list[float]:
    """Handoffs (release call start -> next holder's acquire return) among ``contenders``
    threads, each with its own connection, taking one lock ``rounds`` times, holding ``hold``
    s and re-joining ``hold / 2`` s after each release, as coordkit's contenders do. With
    ``limit``, a semaphore of that many leases (kazoo only), timed as admissions_of."""
    conns = [peer.connect() for _ in range(contenders)]
    name, holds, errors = f"contended-{uuid.uuid4().hex[:8]}", [], []
    asked, first = threading.Condition(), threading.Lock()
    counter = [0]

    def run(who: int) -> None:
        try:
            if limit:
                acquire, release = peer.semaphore(conns[who], name, limit)  # type: ignore[attr-defined]
            else:
                acquire, release = peer.lock(conns[who], name)
            for _ in range(rounds):
                with asked:
                    counter[0] += 1
                    asked.notify_all()
                start = now()
                if not acquire():
                    raise TimeoutError(f"{peer.name} contender {who} waited 60 s")
                holds.append(Hold(who, name, start, now()))
                if first.acquire(False):  # the run's first holder waits until all have asked
                    with asked:
                        asked.wait_for(lambda: counter[0] >= contenders, 60)
                time.sleep(hold)
                holds[-1].released = now()
                release()
                time.sleep(hold / 2)
        except Exception as exc:  # noqa: BLE001 - raised below, after the others finish
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(contenders)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        for conn in conns:
            peer.close(conn)
    if errors:
        raise RuntimeError(f"{peer.name} contention failed: {errors[0]!r}") from errors[0]
    if limit:
        return admissions_of(holds)
    return handoffs_of(sorted(holds, key=lambda h: h.acquired))


def failover(peer: Peer, repetitions: int) -> list[float]:
    """Seconds from the SIGKILL of a child process that leads to a leader here, per repetition."""
    return [_one_failover(peer) for _ in range(repetitions)]


def _one_failover(peer: Peer) -> float:
    name = f"failover-{uuid.uuid4().hex[:8]}"
    child = subprocess.Popen(
        [sys.executable, __file__, "--lead", peer.name, peer.kind, peer.endpoint, name, str(peer.ttl)],
        stdout=subprocess.PIPE,
        text=True,
    )
    conn = peer.connect()
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "leading":
            raise RuntimeError(f"the {peer.name} leader process did not lead")
        won: list[float] = []
        done = threading.Event()

        def led() -> None:
            won.append(now())
            done.set()

        candidate = threading.Thread(target=peer.lead, args=(conn, name, led), daemon=True)
        candidate.start()
        time.sleep(0.2)  # lets the candidate queue up; the figure is dominated by the TTL
        killed = now()
        os.kill(child.pid, signal.SIGKILL)
        if not done.wait(60):
            raise RuntimeError(f"no {peer.name} leader within 60 s of the kill")
        candidate.join(10)
        return won[0] - killed
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
        peer.close(conn)


def _lead_forever(peer: Peer, name: str) -> None:
    """The child of failover(): lead, say so, and stay until killed."""
    conn = peer.connect()

    def led() -> None:
        print("leading", flush=True)
        while isinstance(peer, Etcd3Peer):  # python-etcd3 keeps no lease alive by itself
            peer.held.refresh()
            time.sleep(peer.ttl / 3)
        threading.Event().wait()

    peer.lead(conn, name, led)


def measure(peer: Peer, *, sizes: Sequence[int], quick: bool) -> dict[str, Any]:
    """Every case of one peer: uncontended, handoffs per contender count, failovers."""
    iterations, warmup = (15, 3) if quick else (200, 50)
    return {
        "version": peer.version(),
        "uncontended_s": uncontended(peer, iterations, warmup) if isinstance(peer, ToozPeer) else [],
        "handoff_s": {str(n): contend(peer, n, *rounds_for(n, quick)) for n in sizes},
        "failover_label": peer.failover_label,
        "failover_s": failover(peer, 1 if quick else 3),
    }


def rounds_for(contenders: int, quick: bool) -> tuple[int, float]:
    """Rounds each contender takes and its hold: about 64 tenures per run (16 quick)."""
    total = 16 if quick else 64
    return max(1, total // contenders), 0.010


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lead", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("peer", nargs="?", choices=sorted(PEERS))
    parser.add_argument("kind", nargs="?", choices=("etcd", "zookeeper"))
    parser.add_argument("endpoint", nargs="?")
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--sizes", default="2,16,64")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.lead:
        name, kind, endpoint, lock, ttl = args.lead
        _lead_forever(PEERS[name](kind, endpoint, float(ttl)), lock)
        return
    peer = PEERS[args.peer](args.kind, args.endpoint, args.ttl)
    sizes = [int(n) for n in args.sizes.split(",")]
    print(json.dumps(measure(peer, sizes=sizes, quick=args.quick)), flush=True)
    # python-etcd3's watch threads (daemon threads) print tracebacks as their closed channels
    # fail; one still writing to stderr while the interpreter finalizes is a fatal error
    # ("could not acquire lock for <stderr> at interpreter shutdown") that lost a CI run the
    # figures already printed. Nothing is left to clean up: leave without finalizing.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
