"""The demo's report: what happened (from the customers' replies, order-service's database and
stats, the charges in the store and the demo's own watches), and the invariants, checked."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .demo_metrics import Scrape, metrics_paragraph
from .demo_observe import Observer
from .demo_traffic import Outcome, Planned, median_ms

__all__ = ["Check", "Findings", "checks", "story"]


@dataclass(frozen=True)
class Check:
    """One invariant: held or not, the sentence saying so, and the logs to show when it did not."""

    ok: bool
    text: str
    logs: tuple[str, ...] = ()  # the services whose logs tell more


@dataclass
class Findings:
    """Everything the report is made of. Times are ``time.time()``; ``t0`` is the demo's start."""

    t0: float
    ttl: float
    plan: list[Planned]
    outcomes: list[Outcome]
    orders: dict[str, dict[str, Any]]  # order-service's database, by order id
    charges: dict[str, dict[str, Any]]  # payment-service's idempotency keys, by order id
    stats: dict[str, Any]  # order-service's GET /stats
    observer: Observer
    payment_instances: list[str]
    killed_payment: tuple[str, float]
    killed_leader: tuple[str, float]
    first_leader: str
    config_at: float
    config_change: str
    config_seen: dict[str, float] = field(
        default_factory=dict
    )  # service instance -> when it showed the change
    config_expected: list[str] = field(default_factory=list)
    metrics: dict[str, Scrape | None] = field(default_factory=dict)  # each live service's /metrics

    def rel(self, at: float | None) -> str:
        return "never" if at is None else f"{at - self.t0:.1f}s"

    @property
    def order_ids(self) -> list[str]:
        return sorted({p.order_id for p in self.plan})

    @property
    def new_leader(self) -> str | None:
        after = [leader for at, leader in self.observer.leaders if at >= self.killed_leader[1] and leader]
        return after[0].proposal if after else None


# --- what happened ----------------------------------------------------------------------------------


def story(f: Findings) -> list[tuple[str, str]]:
    """The "What happened" paragraphs as (topic, text), in the order a reader asks."""
    return [
        ("orders", _orders(f)),
        ("payments", _payments(f)),
        ("latency", _latency(f)),
        ("config", _config(f)),
        (f.killed_payment[0], _payment_kill(f)),
        ("settlement", _leader_kill(f)),
        ("metrics", metrics_paragraph(f.metrics, "order-service")),
    ]


def _orders(f: Findings) -> str:
    duplicates = sum(1 for p in f.plan if p.duplicate)
    retried = sum(1 for o in f.outcomes if o.ok and o.attempts > 1)
    status = Counter(order["status"] for order in f.orders.values())
    again = f"; {retried} request(s) needed a second try by the customer" if retried else ""
    return (
        f"{len(f.order_ids)} placed with {len(f.plan)} requests ({duplicates} of them duplicates): "
        f"{status['paid'] + status['settled']} paid, {status['settled']} settled{again}"
    )


def _payments(f: Findings) -> str:
    by_instance = Counter(order["payment_instance"] for order in f.orders.values() if order["payment_id"])
    killed = f.killed_payment[0]
    return (
        " · ".join(
            f"{name} {by_instance.get(name, 0)}{' (killed)' if name == killed else ''}"
            for name in f.payment_instances
        )
        + "  (round robin)"
    )


def _latency(f: Findings) -> str:
    before = median_ms([o for o in f.outcomes if o.started < f.config_at])
    after = median_ms([o for o in f.outcomes if o.started >= f.config_at])
    return f"median order {_ms(before)} before the config change, {_ms(after)} after"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _config(f: Findings) -> str:
    seen = [
        f"{name} +{1000 * (f.config_seen[name] - f.config_at):.0f} ms"
        for name in sorted(f.config_seen, key=f.config_seen.__getitem__)
    ]
    missing = [name for name in f.config_expected if name not in f.config_seen]
    tail = f"; NOT seen by {', '.join(missing)}" if missing else ""
    return f"{f.config_change} at {f.rel(f.config_at)}, seen by {', '.join(seen) or 'nobody'}{tail}"


def _payment_kill(f: Findings) -> str:
    name, killed = f.killed_payment
    report = f.stats["payment_service"]
    on_it = [x for x in report["failures"] if x["instance"] == name]
    retried = sum(1 for x in on_it if x["retried"])
    text = f"SIGKILLed at {f.rel(killed)}: "
    if on_it:
        text += (
            f"{len(on_it)} payment attempts sent to it failed (from {f.rel(on_it[0]['at'])}), "
            f"{retried} of them retried on another instance; "
        )
    ejected = report["ejected_at"].get(name)
    if ejected:
        text += f"ejected by order-service's balancer at {f.rel(ejected)}; "
    left = f.observer.left_at(name)
    if left is None:
        return text + "never left discovery"
    return (
        text
        + f"left discovery at {f.rel(left)}, {left - killed:.1f}s after the kill (session TTL {f.ttl:g}s)"
    )


def _leader_kill(f: Findings) -> str:
    old, killed = f.killed_leader
    new = f.new_leader
    took_over = f.observer.leader_since(new, killed) if new else None
    led = "led from the start" if old == f.first_leader else "led"
    text = f"{old} {led} until SIGKILLed at {f.rel(killed)}; "
    if new and took_over:
        text += (
            f"{new} took over at {f.rel(took_over)}, {took_over - killed:.1f}s after the kill"
            f" (session TTL {f.ttl:g}s)"
        )
    else:
        text += "nobody took over"
    counts = ", ".join(f"{name} {count}" for name, count in f.observer.batches_by().items())
    return f"{text}; settlement batches: {counts or 'none'}"


# --- the invariants ----------------------------------------------------------------------------------


def checks(f: Findings) -> list[Check]:
    return [
        _no_order_lost(f),
        _none_paid_twice(f),
        _all_settled(f),
        _payment_failover(f),
        _leader_handoff(f),
        _config_seen(f),
    ]


def _no_order_lost(f: Findings) -> Check:
    answered = {o.planned.order_id for o in f.outcomes if o.ok}
    paid = {oid for oid in f.order_ids if f.orders.get(oid, {}).get("status") in ("paid", "settled")}
    lost = sorted(set(f.order_ids) - (answered & paid))
    text = (
        f"no order lost: {len(answered & paid)}/{len(f.order_ids)} orders paid and confirmed to the customer"
    )
    return Check(not lost, text + (f"; not: {', '.join(lost[:5])}" if lost else ""), ("order-service",))


def _none_paid_twice(f: Findings) -> Check:
    wrong = set(f.charges) - set(f.order_ids)  # a charge for an order nobody placed
    for oid in f.order_ids:  # exactly one charge per order, and it is the payment the order records
        charge, order = f.charges.get(oid), f.orders.get(oid)
        if charge is None or order is None or charge["payment_id"] != order["payment_id"]:
            wrong.add(oid)
    given: dict[str, set[str]] = {}  # every reply for one order names the same payment
    for outcome in f.outcomes:
        if outcome.ok:
            given.setdefault(outcome.planned.order_id, set()).add(str(outcome.payment_id))
    wrong |= {oid for oid, ids in given.items() if len(ids) > 1}
    duplicates = sum(1 for o in f.outcomes if o.planned.duplicate and o.ok)
    text = (
        f"none paid twice: {len(f.charges)} charges for {len(f.order_ids)} orders, each the order's "
        f"recorded payment; {duplicates} duplicate requests got the first payment"
    )
    return Check(
        not wrong,
        text + (f"; wrong: {', '.join(sorted(wrong)[:5])}" if wrong else ""),
        ("order-service", *f.payment_instances),
    )


def _all_settled(f: Findings) -> Check:
    settled = [o for o in f.orders.values() if o["status"] == "settled"]
    by = ", ".join(f"{k} {v}" for k, v in sorted(Counter(o["settled_by"] for o in settled).items()))
    ok = len(settled) == len(f.order_ids) == len(f.orders)
    return Check(
        ok,
        f"every paid order settled: {len(settled)}/{len(f.order_ids)} ({by})",
        ("order-service", *_workers(f)),
    )


def _payment_failover(f: Findings) -> Check:
    name, killed = f.killed_payment
    report = f.stats["payment_service"]
    on_it = [x for x in report["failures"] if x["instance"] == name]
    unretried = [x for x in on_it if not x["retried"]]  # the last attempt of an order went to the dead one
    late = [c for c in f.charges.values() if c["instance"] == name and c["at"] > killed]
    after = sum(1 for c in f.charges.values() if c["at"] > killed)
    left = f.observer.left_at(name)
    ok = not unretried and not late and left is not None and after > 0
    text = (
        f"payment failover: {len(on_it) - len(unretried)}/{len(on_it)} failed attempts on {name} retried "
        f"on another instance; {after} payments after the kill, {len(late)} by {name}, which "
        f"{'left discovery' if left else 'is STILL registered'}"
    )
    return Check(ok, text, ("order-service", name))


def _leader_handoff(f: Findings) -> Check:
    old, killed = f.killed_leader
    new = f.new_leader
    records = [record for _, record in f.observer.batches]
    tokens = [int(str(record["token"])) for record in records]
    ordered = all(a <= b for a, b in itertools.pairwise(tokens))
    late = [r for r in records if r.get("leader") == old and float(str(r["at"])) > killed]
    resumed = any(r.get("leader") == new for at, r in f.observer.batches if at >= killed)
    ok = new is not None and new != old and ordered and not late and resumed
    text = (
        f"leader handoff: {new or 'nobody'} took over from {old}{' and settled' if resumed else ''}; "
        f"batch tokens {'never went back' if ordered else 'WENT BACK'}; "
        f"{len(late)} batches by {old} after its death"
    )
    return Check(ok, text, _workers(f))


def _config_seen(f: Findings) -> Check:
    missing = [name for name in f.config_expected if name not in f.config_seen]
    return Check(
        not missing,
        f"config change seen by every live service ({len(f.config_seen)}/{len(f.config_expected)})",
        tuple(missing),
    )


def _workers(f: Findings) -> tuple[str, ...]:
    return tuple(sorted({f.killed_leader[0], f.new_leader or f.killed_leader[0]}))
