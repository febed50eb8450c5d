"""coordkit's Prometheus metric families: every name, its help text and its labels.

All label values are from bounded sets (backend kinds, recipe kinds, session states, outcome
words): never key names, service names or instance ids, so that a process's series count does
not grow with its traffic.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Families"]

# Lock waits run from microseconds (uncontended, memory://) to minutes (a queue of holders).
_WAIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# A store round trip on loopback is ~0.5 ms; across regions tens of ms.
_RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_RECONNECT_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)


class Families:
    """The families, registered on ``registry`` at construction (see :meth:`unregister`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        # --- sessions
        self.session_state = Gauge(
            "coordkit_session_state",
            "Sessions of this process in each state (connected, suspended, lost)",
            ["backend", "state"],
            registry=r,
        )
        self.session_transitions = Counter(
            "coordkit_session_transitions",
            "Session state changes, by the state entered",
            ["backend", "state"],
            registry=r,
        )
        self.session_losses = Counter(
            "coordkit_session_losses",
            "Sessions lost (ephemeral keys, locks and leaderships gone)",
            ["backend"],
            registry=r,
        )
        self.reconnect = Histogram(
            "coordkit_session_reconnect_seconds",
            "Time from leaving CONNECTED to CONNECTED again (the same or a new session)",
            ["backend"],
            buckets=_RECONNECT_BUCKETS,
            registry=r,
        )
        self.keepalive = Histogram(
            "coordkit_keepalive_seconds",
            "Heartbeat round trips that succeeded",
            ["backend"],
            buckets=_RTT_BUCKETS,
            registry=r,
        )
        self.keepalive_misses = Counter(
            "coordkit_keepalive_misses", "Heartbeats that failed or timed out", ["backend"], registry=r
        )
        # --- store operations
        self.operations = Histogram(
            "coordkit_operation_seconds",
            "Store calls (get, put, delete, children, tree, commit, ...) including their retries",
            ["backend", "op", "outcome"],
            buckets=_RTT_BUCKETS,
            registry=r,
        )
        # --- recipes
        self.wait = Histogram(
            "coordkit_lock_wait_seconds",
            "Time in acquire() or campaign(), by recipe kind and outcome (acquired, timeout, busy, error)",
            ["kind", "outcome"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.timeouts = Counter(
            "coordkit_lock_timeouts",
            "Acquires and campaigns that gave up at their timeout",
            ["kind"],
            registry=r,
        )
        self.hold = Histogram(
            "coordkit_lock_hold_seconds",
            "How long locks, slots and leaderships were held",
            ["kind"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.losses = Counter(
            "coordkit_lock_losses",
            "Holdings lost while held (session suspended or lost)",
            ["kind"],
            registry=r,
        )
        self.held = Gauge(
            "coordkit_locks_held", "Locks, slots and leaderships held now", ["kind"], registry=r
        )
        self.leader = Gauge("coordkit_leader", "Leaderships this process holds now", registry=r)
        self.leadership_changes = Counter(
            "coordkit_leadership_changes",
            "Leadership gained, resigned or lost by this process",
            ["change"],
            registry=r,
        )
        self.leaderless = Histogram(
            "coordkit_election_leaderless_seconds",
            "Time an election observer saw no leader, from reading none to reading one again",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.leaderless_now = Gauge(
            "coordkit_election_observers_leaderless",
            "Election observers of this process that see no leader now",
            registry=r,
        )
        # --- watches
        self.watch_events = Counter(
            "coordkit_watch_events", "Events delivered by store watches", ["backend", "type"], registry=r
        )
        self.watch_lag = Histogram(
            "coordkit_watch_lag_seconds",
            "From a store notification reaching the client to the watch callbacks having run for it",
            ["backend"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.watch_resyncs = Counter(
            "coordkit_watch_resyncs",
            "Watch re-reads: after a reconnect (ZooKeeper) or over a compaction gap (etcd)",
            ["backend", "reason"],
            registry=r,
        )
        # --- discovery
        self.instances = Gauge(
            "coordkit_discovery_instances", "Instances held by this process's discovery caches", registry=r
        )
        self.instances_up = Gauge(
            "coordkit_discovery_instances_up", "Instances in discovery caches whose status is up", registry=r
        )
        self.service_instances = Gauge(
            "coordkit_discovery_service_instances",
            "Instances of each service in discovery caches (only with enable(service_labels=True))",
            ["service"],
            registry=r,
        )
        self.service_instances_up = Gauge(
            "coordkit_discovery_service_instances_up",
            "Instances of each service in discovery caches whose status is up (service_labels=True)",
            ["service"],
            registry=r,
        )
        # --- balancing
        self.picks = Counter("coordkit_balancer_picks", "Balancer picks, by outcome", ["outcome"], registry=r)
        self.balancer = {
            "failure": Counter("coordkit_balancer_failures", "Calls recorded as failures", registry=r),
            "ejection": Counter("coordkit_balancer_ejections", "Instances ejected as outliers", registry=r),
            "readmission": Counter(
                "coordkit_balancer_readmissions", "Ejected instances back in rotation", registry=r
            ),
            "retry": Counter("coordkit_balancer_retries", "Attempts retried on another instance", registry=r),
            "budget_exhausted": Counter(
                "coordkit_balancer_retry_budget_exhausted", "Retries refused by the retry budget", registry=r
            ),
        }
        # --- config
        self.config = Counter(
            "coordkit_config_changes",
            "Configuration changes applied or rejected (invalid)",
            ["outcome"],
            registry=r,
        )

    def unregister(self) -> None:
        """Take every family off the registry (what :func:`coordkit.metrics.disable` does)."""
        seen: set[int] = set()
        for value in vars(self).values():
            for collector in value.values() if isinstance(value, dict) else [value]:
                if isinstance(collector, (Counter, Gauge, Histogram)) and id(collector) not in seen:
                    seen.add(id(collector))
                    self.registry.unregister(collector)
