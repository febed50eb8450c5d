"""The demo's scripted events (a config change, a payment instance killed, the settlement leader
killed) and its narrator: each event says what it did, stamped with the demo's clock."""

from __future__ import annotations

import contextlib
import threading
import time

import requests

import coordkit
from coordkit.testing import eventually

from .demo_observe import Observer
from .demo_system import DemoFailure, LocalSystem, Process

__all__ = ["KILLED_PAYMENT", "Narrator", "Script"]

KILLED_PAYMENT = "payment-2"
NEW_DELAY_MS, NEW_TIMEOUT = 25, 1.0


class Narrator:
    """Prints progress lines stamped with the seconds since the demo started."""

    def __init__(self) -> None:
        self.t0 = time.time()

    def __call__(self, text: str, at: float | None = None) -> None:
        print(f"{(at or time.time()) - self.t0:6.1f}s  {text}", flush=True)


class Script:
    """The events played during the stream, and what they recorded."""

    def __init__(
        self, client: coordkit.Client, system: LocalSystem, observer: Observer, order: Process, say: Narrator
    ) -> None:
        self.client, self.system, self.observer, self.order, self.say = client, system, observer, order, say
        self.config_at = 0.0
        self.config_change = ""
        self.config_seen: dict[str, float] = {}
        self.config_expected: list[str] = []
        self.killed: dict[str, tuple[str, float]] = {}
        self._measuring: threading.Thread | None = None

    def change_config(self) -> None:
        payment = self.client.config("payment-service", writable=True)
        orders = self.client.config("order-service", writable=True)
        old = (payment.get("delay_ms", 5), orders.get("payment_timeout", 2.0))
        self.config_at = time.time()
        payment.set("delay_ms", NEW_DELAY_MS)  # two writes, each seen by its own service
        orders.set("payment_timeout", NEW_TIMEOUT)
        payment.close()
        orders.close()
        self.config_change = (
            f"payment-service delay_ms {old[0]} -> {NEW_DELAY_MS} and order-service "
            f"payment_timeout {old[1]} -> {NEW_TIMEOUT}"
        )
        self.say(f"config: {self.config_change}", self.config_at)
        self._measuring = threading.Thread(target=self._measure_config, name="config-seen", daemon=True)
        self._measuring.start()

    def _measure_config(self) -> None:
        """Poll every live service's /health until it reports the new values (at most 10 s)."""
        targets = {i.id: f"http://{i.address}:{i.port}" for i in self.observer.cache.instances}
        wanted: dict[str, tuple[str, float]] = {name: ("delay_ms", NEW_DELAY_MS) for name in targets}
        targets["order-service"], wanted["order-service"] = self.order.url, ("payment_timeout", NEW_TIMEOUT)
        self.config_expected = sorted(targets)

        def all_seen() -> bool:
            for name, url in targets.items():
                if name not in self.config_seen and _reports(url, *wanted[name]):
                    self.config_seen[name] = time.time()
            return len(self.config_seen) == len(targets)

        # A service still missing after 10 s is the config invariant's to report, not a failure here.
        with contextlib.suppress(AssertionError):
            eventually(all_seen, timeout=10, interval=0.01, message="every service to report the new config")

    def kill_payment(self) -> None:
        process = self.system.named(KILLED_PAYMENT)
        self.killed["payment"] = (process.name, process.kill())
        self.say(
            f"killed {process.name} ({_how_killed(process)}): no deregistration",
            self.killed["payment"][1],
        )

    def kill_leader(self) -> None:
        leader = self.observer.election.leader()
        if leader is None:
            raise DemoFailure("no settlement leader to kill")
        process = self.system.named(leader.proposal)
        self.killed["leader"] = (process.name, process.kill())
        self.say(
            f"killed {process.name}, the settlement leader ({_how_killed(process)}): no resignation",
            self.killed["leader"][1],
        )

    def finish(self) -> None:
        if self._measuring is not None:
            self._measuring.join(10)


def _how_killed(process: Process) -> str:
    container = getattr(process.popen, "container", None)  # a service in a container (--docker)
    return f"docker kill {container}" if container else f"SIGKILL, pid {process.popen.pid}"


def _reports(url: str, key: str, value: object) -> bool:
    try:
        return bool(requests.get(f"{url}/health", timeout=1).json().get(key) == value)
    except (requests.RequestException, ValueError):
        return False
