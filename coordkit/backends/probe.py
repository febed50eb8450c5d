"""The one slot that instrumentation plugs into, at the bottom of the import graph.

Every layer (backends, core, recipes, discovery, balancing, config) reports what happens to
:data:`active`, which is None unless ``coordkit.metrics.enable()`` installed a :class:`Probe`.
Callers read the slot once into a local and test it (``probe = probes.active``, then
``if probe is not None``): that test is the whole cost of instrumentation when it is off,
which is why the slot is a plain module global and not a registry of listeners.

It lives here, below the core, because the backends report too (etcd's compaction resyncs,
ZooKeeper's reconnect resyncs) and the arrows of the import graph point down only. It imports
nothing of coordkit's.

A probe method must not raise and must not block: it runs on the callers' threads (a pick,
the session heartbeat, a watch thread). Label values passed in are bounded by construction:
backend kinds, recipe kinds, outcome words; never key names or instance ids.
"""

from __future__ import annotations

__all__ = ["Probe", "active", "install"]


class Probe:
    """What the layers report. Every method is a no-op here; an implementation overrides
    those it records. Times are seconds (floats) unless named ``*_ns``."""

    # --- backend operations (one span each) ------------------------------------------------
    def operation(self, backend: str, op: str, started_ns: int, error: BaseException | None) -> None:
        """A store call ``op`` (``get``, ``put``, ...) started at ``started_ns``
        (``time.time_ns()``) has just ended, failing with ``error`` if not None."""

    # --- sessions ----------------------------------------------------------------------------
    def session_changed(self, backend: str, previous: str, state: str, down_for: float | None) -> None:
        """A session went from ``previous`` to ``state`` (SessionState values; ``previous``
        is ``"opening"`` for a session just opened). ``down_for``: seconds since it left
        CONNECTED, when this change brings it back to CONNECTED."""

    def keepalive(self, backend: str, seconds: float, ok: bool) -> None:
        """One heartbeat round trip took ``seconds``; ``ok`` False: it failed (a miss)."""

    # --- recipes (lock, semaphore, read/write lock, leadership) -------------------------------
    def acquire_ended(
        self, kind: str, backend: str, started_ns: int, waited: float, outcome: str, token: int | None
    ) -> None:
        """An acquire or campaign that waited ``waited`` seconds ended with ``outcome``:
        ``acquired``, ``timeout`` (a deadline passed), ``busy`` (not blocking, taken) or
        ``error`` (it raised). ``token``: the fencing token when acquired."""

    def hold_ended(self, kind: str, held: float, lost: bool) -> None:
        """A holding of ``held`` seconds ended: released, or ``lost`` while held."""

    def leaderless_began(self) -> None:
        """An election observer, having seen a leader, read that nobody leads now."""

    def leaderless_ended(self, seconds: float | None) -> None:
        """That observer's gap ended after ``seconds``: it read a leader again. None: the
        observer stopped during the gap (its length is unknown, so not a measurement)."""

    # --- watches -------------------------------------------------------------------------------
    def watch_event(self, backend: str, event_type: str) -> None:
        """A store watch delivered one event (``put`` or ``delete``)."""

    def watch_lag(self, backend: str, seconds: float) -> None:
        """A store notification reached this client ``seconds`` before the watch's callbacks
        had run for it (etcd: a watch response; ZooKeeper: a notification, then the re-read it
        causes; memory: a write's event): how far delivery trails the store."""

    def watch_resync(self, backend: str, reason: str) -> None:
        """A watch re-read its range: ``reconnect`` (ZooKeeper) or ``compaction`` (etcd: the
        revisions it owed were compacted; a gap that the re-read's diff covers)."""

    # --- discovery, balancing, config ----------------------------------------------------------
    #: True when the application opted in to service names as label values
    #: (``coordkit.metrics.enable(service_labels=True)``): caches then also call
    #: :meth:`service_instances_changed`.
    per_service = False

    def service_instances_changed(self, service: str, total: int, up: int) -> None:
        """The instance count of ``service`` in a discovery cache moved by ``total`` (``up``)."""

    def instances_changed(self, total: int, up: int) -> None:
        """A discovery cache's instance count moved by ``total`` (of which ``up``: instances
        in status up); a cache closing reports minus what it counted."""

    def balancer_event(self, event: str) -> None:
        """``pick``, ``no_instance``, ``failure``, ``ejection``, ``readmission``, ``retry``
        or ``budget_exhausted``."""

    def config_changes(self, outcome: str, count: int) -> None:
        """``count`` changes of a followed configuration were ``applied`` or ``rejected``
        (failed validation: readers keep the last valid value)."""


active: Probe | None = None


def install(probe: Probe | None) -> Probe | None:
    """Make ``probe`` the active probe (None: none) and return the one it replaces."""
    global active
    previous, active = active, probe
    return previous
