"""The demo's reading of the services' ``GET /metrics``: each live service's coordkit metrics,
parsed with prometheus_client's own parser, and the few figures the report quotes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import requests

from .demo_system import Process

__all__ = ["Scrape", "metrics_paragraph", "scrape", "scrape_all"]

# A scrape: sample name -> [(labels, value)], as the parser gave them.
Scrape = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> Scrape | None:
    """``url``'s Prometheus text, parsed; None when it cannot be read (the service is gone, has
    metrics off, or prometheus_client is not installed here): the report then says so."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return None
    try:
        reply = requests.get(url, timeout=5)
    except requests.RequestException:
        return None
    if reply.status_code != 200:
        return None
    samples: Scrape = {}
    try:
        for family in text_string_to_metric_families(reply.text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    except ValueError:  # not Prometheus text: nothing to quote rather than a wrong figure
        return None
    return samples


def scrape_all(
    processes: Iterable[Process], found: Mapping[str, str] | None = None
) -> dict[str, Scrape | None]:
    """Every live process with a known port, by name: its scrape (None when it could not be
    read). ``found``: base URLs of processes that picked their own port (by name, as discovery
    shows them)."""
    urls = {p.name: p.url if p.port is not None else (found or {}).get(p.name) for p in processes if p.alive}
    return {name: scrape(f"{url}/metrics") for name, url in urls.items() if url is not None}


def total(samples: Scrape | None, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there are none)."""
    if samples is None:
        return 0.0
    return sum(v for have, v in samples.get(name, []) if all(have.get(k) == x for k, x in labels.items()))


def _n(value: float) -> str:
    return f"{value:g}"


def metrics_paragraph(scrapes: Mapping[str, Scrape | None], order_service: str) -> str:
    """The report's "metrics" paragraph: the order service's lock waits and balancer counters,
    the settlement workers' leadership changes, session losses over every service read."""
    read = {name: s for name, s in scrapes.items() if s is not None}
    if not read:
        return "no service's /metrics could be read (is the metrics extra installed?)."
    parts = []
    order = read.get(order_service)
    if order is not None:
        waits = total(order, "coordkit_lock_wait_seconds_count", kind="lock")
        waited = total(order, "coordkit_lock_wait_seconds_sum", kind="lock")
        parts.append(
            f"{order_service}: {_n(waits)} lock waits ({waited * 1000:.0f} ms in all), "
            f"balancer picks {_n(total(order, 'coordkit_balancer_picks_total', outcome='picked'))}, "
            f"failures {_n(total(order, 'coordkit_balancer_failures_total'))}, "
            f"ejections {_n(total(order, 'coordkit_balancer_ejections_total'))}, "
            f"retries {_n(total(order, 'coordkit_balancer_retries_total'))}"
        )
    workers = {n: s for n, s in read.items() if n.startswith("settlement")}
    if workers:
        changes = ", ".join(
            f"{n} gained {_n(total(s, 'coordkit_leadership_changes_total', change='gained'))}"
            for n, s in sorted(workers.items())
        )
        parts.append(f"leaderships among the live settlement workers: {changes}")
    losses = sum(total(s, "coordkit_session_losses_total") for s in read.values())
    parts.append(f"session losses {_n(losses)} over the {len(read)} services read")
    missing = sorted(set(scrapes) - set(read))
    if missing:
        parts.append(f"not read: {', '.join(missing)}")
    return "; ".join(parts) + "."
