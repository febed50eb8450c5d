"""Histories of fault-test workers, and the checkers that judge them.

Every worker process appends one JSON object per event to its own file: ``t`` (its
``time.monotonic_ns()``: one machine, so the clocks of all workers compare), ``w`` (the
worker's name), ``e`` (the event) and the event's fields. Events:

``acquired`` / ``held`` / ``lost_noticed`` / ``releasing`` / ``released``
    a lock, semaphore slot or leadership (``res``, ``token``): won; still believed held at a
    tick (``t0`` is the clock read just before the ownership query, ``t`` just after);
    the query said no; the query said yes, about to give it up; given up.
``fence_attempt`` / ``fence_ok`` / ``fence_refused`` / ``fence_unknown``
    a fenced read-modify-write of a counter (``value`` written, ``token`` used).
``registered`` / ``seen`` / ``watch`` / ``session``
    a registration made; the instances a discovery cache shows; a watch event (``key``,
    ``value``, ``type``); a session state change (``state``, ``generation``).

The checkers return a list of violations (empty when the history is correct), so that a test
can ``assert not violations, violations`` and print every one of them.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Event",
    "HistoryWriter",
    "Tenure",
    "check_exclusive",
    "check_fenced_counter",
    "check_registrations",
    "check_tokens_increase",
    "check_watch",
    "handover_gaps",
    "load",
    "tenures",
]

Event = dict[str, Any]

# A tick whose ownership query took longer than this straddled a pause of the worker (SIGSTOP
# between the query's clock read and the stamp after it): its answer was computed before the
# pause, so the stamp taken before the query is the honest end of that belief.
STRADDLE_NS = 50_000_000


class HistoryWriter:
    """Appends events to one file with one ``write`` per line (nothing buffered in the
    process, so a SIGKILL loses no event that was logged)."""

    def __init__(self, path: str | os.PathLike[str], worker: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.worker = worker

    def log(self, event: str, *, t: int | None = None, **fields: Any) -> None:
        record = {"t": time.monotonic_ns() if t is None else t, "w": self.worker, "e": event, **fields}
        os.write(self._fd, (json.dumps(record, sort_keys=True) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def load(paths: Iterable[str | os.PathLike[str]]) -> list[Event]:
    """Every event of every file, sorted by time (a torn last line of a killed worker is skipped)."""
    events: list[Event] = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return sorted(events, key=lambda e: e["t"])


@dataclass(frozen=True)
class Tenure:
    """One worker's ownership of one resource under one token: from ``start`` (acquire
    returned) to ``end`` (its last tick that still believed), in monotonic ns."""

    worker: str
    res: str
    token: int
    start: int
    end: int
    released: bool = False  # ended by choice (``releasing``), not by a loss


def _belief_end(event: Event) -> int:
    t0 = event.get("t0")
    if t0 is not None and event["t"] - t0 > STRADDLE_NS:
        return int(t0)
    return int(event["t"])


def tenures(events: Sequence[Event]) -> list[Tenure]:
    """The tenures in ``events`` (``acquired`` then ``held``/``releasing`` with the same token)."""
    spans: dict[tuple[str, str, int], list[int]] = {}
    released: set[tuple[str, str, int]] = set()
    for event in events:
        if event["e"] not in ("acquired", "held", "releasing"):
            continue
        key = (event["w"], event["res"], int(event["token"]))
        end = _belief_end(event) if event["e"] != "acquired" else int(event["t"])
        if event["e"] == "releasing":
            released.add(key)
        if key not in spans:
            spans[key] = [int(event["t"]), end]
        else:
            spans[key][1] = max(spans[key][1], end)
    return sorted(
        (Tenure(w, r, tok, s, e, (w, r, tok) in released) for (w, r, tok), (s, e) in spans.items()),
        key=lambda x: x.start,
    )


def check_exclusive(events: Sequence[Event], limit: int = 1) -> list[str]:
    """At most ``limit`` tenures of a resource believe at any moment (1: a lock, an election)."""
    violations = []
    by_res: dict[str, list[Tenure]] = defaultdict(list)
    for tenure in tenures(events):
        by_res[tenure.res].append(tenure)
    for res, spans in by_res.items():
        for i, tenure in enumerate(spans):
            overlapping = [o for o in spans[:i] if o.end >= tenure.start]
            if len(overlapping) >= limit:
                worst = max(overlapping, key=lambda o: o.end)
                violations.append(
                    f"{res}: {tenure.worker} acquired (token {tenure.token}) while {len(overlapping)} "
                    f"other(s) still believed, {worst.worker} (token {worst.token}) until "
                    f"{(worst.end - tenure.start) / 1e6:.1f} ms later"
                )
    return violations


def handover_gaps(events: Sequence[Event], lost_only: bool = False) -> list[tuple[Tenure, Tenure, float]]:
    """For each tenure of a lock or election taken over from another worker: the previous
    tenure, the new one, and the milliseconds from the last belief of the first to the
    acquisition of the second (positive: nobody believed in between). ``lost_only``: only
    handovers after a loss (the margin that faults leave), not after a release."""
    by_res: dict[str, list[Tenure]] = defaultdict(list)
    for tenure in tenures(events):
        by_res[tenure.res].append(tenure)
    gaps = []
    for spans in by_res.values():
        for before, after in itertools.pairwise(spans):
            if before.worker != after.worker and not (lost_only and before.released):
                gaps.append((before, after, (after.start - before.end) / 1e6))
    return gaps


def check_tokens_increase(events: Sequence[Event]) -> list[str]:
    """Per resource, every acquisition has a token greater than every earlier one's."""
    violations = []
    highest: dict[str, tuple[int, str]] = {}
    for event in events:
        if event["e"] != "acquired":
            continue
        res, token = event["res"], int(event["token"])
        if res in highest and token <= highest[res][0]:
            violations.append(
                f"{res}: {event['w']} acquired with token {token}, not above "
                f"{highest[res][0]} of {highest[res][1]} before it"
            )
        if res not in highest or token > highest[res][0]:
            highest[res] = (token, event["w"])
    return violations


def check_fenced_counter(events: Sequence[Event], final: int) -> list[str]:
    """A fenced read-modify-write counter: every value 1..``final`` was written by exactly one
    accepted write (or one whose outcome is unknown), none twice, none beyond ``final``,
    and, in the order of the values, the accepted tokens never go down (a stale token was
    never accepted after a newer one).

    A write's outcome is unknown when it failed without a refusal (``fence_unknown``) or when
    its writer logged the attempt and then never an outcome: a worker killed between its write
    reaching the servers and its next log line."""
    violations = []
    ok = [e for e in events if e["e"] == "fence_ok"]
    outcomes = {
        (e["w"], e["token"], e["value"])
        for e in events
        if e["e"] in ("fence_ok", "fence_refused", "fence_unknown")
    }
    unknown = {int(e["value"]) for e in events if e["e"] == "fence_unknown"}
    unknown |= {
        int(e["value"])
        for e in events
        if e["e"] == "fence_attempt" and (e["w"], e["token"], e["value"]) not in outcomes
    }
    counts: dict[int, int] = defaultdict(int)
    for event in ok:
        counts[int(event["value"])] += 1
    for value, count in sorted(counts.items()):
        if count > 1:
            violations.append(f"counter value {value} was accepted {count} times (a lost update)")
        if value > final:
            violations.append(f"counter value {value} was accepted but the counter ends at {final}")
    missing = [v for v in range(1, final + 1) if v not in counts and v not in unknown]
    if missing:
        violations.append(f"counter values {missing[:10]} are in the store but no write reported them")
    last_token, last_value = 0, 0
    for event in sorted(ok, key=lambda e: int(e["value"])):
        token = int(event["token"])
        if token < last_token:
            violations.append(
                f"value {event['value']} was accepted with token {token} after value "
                f"{last_value} had been accepted with the newer token {last_token}"
            )
        if token > last_token:
            last_token, last_value = token, int(event["value"])
    return violations


def _out_of_order(seen: Sequence[str | None], written: Sequence[str | None]) -> str:
    """Why ``seen`` is not a subsequence of ``written`` ("" if it is). Each delivered event
    must match a write after the one the previous event matched (earliest match first,
    which finds a match whenever one exists), so a put or delete delivered twice, out of
    order, or never made is caught; skipped intermediate writes are allowed."""
    position = 0
    for index, value in enumerate(seen):
        try:
            position = written.index(value, position) + 1
        except ValueError:
            what = "delete" if value is None else f"value {value!r}"
            if value not in written:
                return f"event {index} ({what}) matches no write"
            return f"event {index} ({what}) is delivered twice or out of order"
    return ""


def check_watch(
    events: Sequence[Event],
    written: Mapping[str, Sequence[str | None]],
    store: Mapping[str, str | None],
    watcher: str | None = None,
) -> list[str]:
    """A watcher saw, per key, a subsequence of the writes in their order (``written``: the
    values put, ``None`` for a delete), nothing twice, and its final view equals the store
    (``None``: the key is absent)."""
    violations = []
    seen: dict[str, list[str | None]] = defaultdict(list)
    for event in events:
        if event["e"] == "watch" and (watcher is None or event["w"] == watcher):
            seen[event["key"]].append(event["value"] if event["type"] == "put" else None)
    for key, values in seen.items():
        why = _out_of_order(values, written.get(key, ()))
        if why:
            violations.append(f"{key}: {why}; delivered {values}, written {list(written.get(key, ()))}")
    for key, value in store.items():
        final = seen[key][-1] if seen.get(key) else None
        if final != value:
            violations.append(f"{key}: the watcher's final view is {final!r}, the store holds {value!r}")
    for key in seen:
        if key not in store:
            violations.append(f"{key}: the watcher saw a key the store never had")
    return violations


def check_registrations(events: Sequence[Event], expected: set[str], observer: str) -> list[str]:
    """``observer``'s discovery cache never showed an instance twice, and its last view is
    exactly ``expected`` (nothing lost, nothing left over)."""
    views = [e for e in events if e["e"] == "seen" and e["w"] == observer]
    violations = [
        f"{observer} saw duplicated instances: {v['ids']}"
        for v in views
        if len(set(v["ids"])) != len(v["ids"])
    ]
    if not views:
        return [*violations, f"{observer} never reported what its cache shows"]
    last = set(views[-1]["ids"])
    if last != expected:
        violations.append(
            f"{observer}'s final view lacks {sorted(expected - last)} and has extra {sorted(last - expected)}"
        )
    return violations
