"""The demo's customers: a paced stream of orders, some sent twice, with scripted events in
between (a config change, two kills), and what each request got back."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import requests

__all__ = ["OrderStream", "Outcome", "Planned", "median_ms", "plan_orders"]

_RETRY_PAUSE = 0.2


@dataclass(frozen=True)
class Planned:
    """One request to send ``at`` seconds into the stream. ``duplicate``: the same order again
    (at the same moment as the first, or a second later), which must not be paid twice."""

    at: float
    order_id: str
    amount: float
    duplicate: bool = False


@dataclass(frozen=True)
class Outcome:
    """What one planned request finally got: a payment, or the last error after retrying."""

    planned: Planned
    started: float  # time.time()
    latency: float  # seconds until the final answer
    attempts: int
    payment_id: str | None = None
    payment_instance: str | None = None
    replayed: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.payment_id is not None


def plan_orders(count: int, duration: float, *, seed: int = 7) -> list[Planned]:
    """``count`` orders spread evenly over ``duration`` seconds; one in ten is sent twice at
    once (two concurrent requests for one order), one in ten again a second later."""
    rng = random.Random(seed)
    spacing = duration / count
    plan: list[Planned] = []
    for index in range(count):
        at, order_id, amount = index * spacing, f"order-{index + 1:04d}", round(rng.uniform(5, 500), 2)
        plan.append(Planned(at, order_id, amount))
        if index % 10 == 3:
            plan.append(Planned(at, order_id, amount, duplicate=True))
        if index % 10 == 7:
            plan.append(Planned(min(at + 1.0, duration), order_id, amount, duplicate=True))
    return sorted(plan, key=lambda p: p.at)


class OrderStream:
    """Sends a plan to order-service at ``base_url`` from a pool of ``workers`` threads. A
    request that fails (5xx, connection error) is sent again for up to ``retry_for`` seconds,
    as a client of an idempotent API would."""

    def __init__(
        self, base_url: str, plan: Sequence[Planned], *, workers: int = 16, retry_for: float = 15.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.plan = list(plan)
        self.workers = workers
        self.retry_for = retry_for
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stopping = threading.Event()

    def run(
        self,
        start: float,
        events: Sequence[tuple[float, Callable[[], None]]],
        check: Callable[[], None] = lambda: None,
    ) -> None:
        """Send every planned request at ``start`` (``time.monotonic()``) + its offset, run each
        event at its offset on this thread, and return when every request has its outcome.
        ``check()`` runs at least every 0.1 s; what it raises stops the stream (and this call)."""
        # (offset, order, what): an event at the same offset as a request goes first.
        timeline: list[tuple[float, int, Planned | Callable[[], None]]] = [(p.at, 1, p) for p in self.plan]
        timeline += [(at, 0, action) for at, action in events]
        pending: list[Future[None]] = []
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="customer")
        try:
            for at, _, what in sorted(timeline, key=lambda item: item[:2]):
                while (delay := start + at - time.monotonic()) > 0:
                    check()
                    time.sleep(min(delay, 0.1))
                if isinstance(what, Planned):
                    pending.append(pool.submit(self._send, what))
                else:
                    what()
            while wait(pending, timeout=0.1).not_done:
                check()
        finally:
            self._stopping.set()  # on an interrupt: no more tries, and what is queued is dropped
            pool.shutdown(wait=True, cancel_futures=True)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, planned: Planned) -> None:
        started, began = time.time(), time.monotonic()
        attempts, error = 0, "not sent"
        while True:
            attempts += 1
            try:
                response = self._session().post(
                    f"{self.base_url}/orders",
                    timeout=10,
                    json={"order_id": planned.order_id, "amount": planned.amount},
                )
                body = response.json()
                if response.status_code == 200:
                    self._record(
                        Outcome(
                            planned,
                            started,
                            time.monotonic() - began,
                            attempts,
                            body["payment_id"],
                            body["payment_instance"],
                            bool(body.get("replayed")),
                        )
                    )
                    return
                error = f"HTTP {response.status_code}: {body.get('error', '')}"
                if response.status_code < 500:
                    break  # the request itself is wrong: sending it again will not help
            except (requests.RequestException, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() - began + _RETRY_PAUSE > self.retry_for or self._stopping.wait(_RETRY_PAUSE):
                break
        self._record(Outcome(planned, started, time.monotonic() - began, attempts, error=error[:300]))

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)


def median_ms(outcomes: Sequence[Outcome]) -> float | None:
    """Median latency of the successful first-time payments among ``outcomes``, in ms."""
    latencies = [o.latency for o in outcomes if o.ok and not o.replayed]
    return 1000 * statistics.median(latencies) if latencies else None
