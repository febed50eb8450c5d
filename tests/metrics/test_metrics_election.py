"""Time without a leader as election observers see it, on every backend: a leader resigns, another
campaigns later, and the observer's gap is one observation of about that length."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from metrics_helpers import DEADLINE, Recording, eventually, sample

import coordkit
from coordkit.recipes.election import Leader

MakeClient = Callable[..., coordkit.Client]


def _observing(election: coordkit.Election, timeout: float) -> tuple[list[Leader], threading.Thread]:
    """Run ``election.observe(timeout)`` on a thread; the leaders it yields, in order."""
    seen: list[Leader] = []

    def run() -> None:
        for leader in election.observe(timeout=timeout):
            seen.append(leader)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return seen, thread


def test_an_observed_gap_without_a_leader_is_one_observation_of_its_length(
    recording: Recording, make_client: MakeClient
) -> None:
    first, second, watcher = make_client(), make_client(), make_client()
    reg = recording.registry
    leading = first.election("primary")
    assert leading.campaign("a", timeout=DEADLINE)
    # The observer stops after this long without a change: longer than any step below takes.
    quiet = 5.0
    seen, thread = _observing(watcher.election("primary"), timeout=quiet)
    eventually(lambda: [x.proposal for x in seen] == ["a"], "the observer sees the first leader")
    assert sample(reg, "coordkit_election_leaderless_seconds_count") == 0  # nothing without a gap

    leading.resign()
    eventually(
        lambda: sample(reg, "coordkit_election_observers_leaderless") == 1,
        "the observer reads that nobody leads",
    )
    pause = 0.4
    time.sleep(pause)  # the gap to be measured: nobody campaigns this long (not a sync)
    next_leader = second.election("primary")
    assert next_leader.campaign("b", timeout=DEADLINE)
    eventually(lambda: [x.proposal for x in seen] == ["a", "b"], "the observer sees the new leader")

    assert sample(reg, "coordkit_election_leaderless_seconds_count") == 1
    gap = sample(reg, "coordkit_election_leaderless_seconds_sum")
    # From the observer's read of no leader (before the pause began) to its read of "b" (after
    # the campaign returned): at least the pause, and within a watch delivery or two of it.
    assert pause <= gap < pause + 2.0, gap
    assert sample(reg, "coordkit_election_observers_leaderless") == 0

    # A gap the observer does not live to see the end of is not a measurement, and the gauge
    # does not keep counting an observer that has stopped.
    next_leader.resign()
    eventually(lambda: sample(reg, "coordkit_election_observers_leaderless") == 1, "the second gap begins")
    thread.join(quiet + DEADLINE)  # observe() ends after its timeout of no change
    assert not thread.is_alive()
    assert sample(reg, "coordkit_election_observers_leaderless") == 0
    assert sample(reg, "coordkit_election_leaderless_seconds_count") == 1
