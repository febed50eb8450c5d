"""Each fault-suite checker catches the violation it exists for: fed a synthetic bad history,
it reports it (a checker that cannot fail would pass every scenario), and a good one passes."""

from __future__ import annotations

from typing import Any

from coordkit.testing.history import (
    STRADDLE_NS,
    Event,
    check_exclusive,
    check_fenced_counter,
    check_registrations,
    check_tokens_increase,
    check_watch,
)

MS = 1_000_000


def ev(t_ms: float, w: str, e: str, **fields: Any) -> Event:
    return {"t": int(t_ms * MS), "w": w, "e": e, **fields}


def held(t_ms: float, w: str, token: int, res: str = "r") -> Event:
    return ev(t_ms, w, "held", res=res, token=token, t0=int(t_ms * MS) - 1000)


def test_overlapping_beliefs_are_caught_and_a_clean_handover_passes() -> None:
    a = [ev(0, "a", "acquired", res="r", token=1), held(100, "a", 1), held(200, "a", 1)]
    assert check_exclusive([*a, ev(150, "b", "acquired", res="r", token=2)])
    assert not check_exclusive([*a, ev(201, "b", "acquired", res="r", token=2), held(300, "b", 2)])
    # A semaphore of two: a third believer is a violation, two are not.
    two = [*a, ev(50, "b", "acquired", res="r", token=2), held(250, "b", 2)]
    assert not check_exclusive(two, limit=2)
    assert check_exclusive([*two, ev(120, "c", "acquired", res="r", token=3)], limit=2)


def test_a_belief_resumed_after_a_loss_is_still_caught() -> None:
    """A holder that said 'not held' and then 'held' again under the same token (a resurrected
    handle) believed through the other's tenure."""
    history = [
        ev(0, "a", "acquired", res="r", token=1),
        held(100, "a", 1),
        ev(110, "a", "lost_noticed", res="r", token=1),
        ev(150, "b", "acquired", res="r", token=2),
        held(300, "a", 1),
    ]
    assert check_exclusive(history)


def test_a_straddling_tick_ends_the_belief_at_its_first_clock_read() -> None:
    """A tick whose query spanned a pause counts from before the pause (its answer was read
    then); one that did not straddle counts to its end."""
    pause = STRADDLE_NS // MS + 1000
    a = [
        ev(0, "a", "acquired", res="r", token=1),
        {"t": (100 + pause) * MS, "w": "a", "e": "held", "res": "r", "token": 1, "t0": 100 * MS},
    ]
    assert not check_exclusive([*a, ev(150, "b", "acquired", res="r", token=2)])
    assert check_exclusive([*a, ev(99, "b", "acquired", res="r", token=2)])


def test_a_token_going_back_or_repeating_is_caught() -> None:
    good = [
        ev(0, "a", "acquired", res="r", token=5),
        ev(10, "b", "acquired", res="r", token=9),
        ev(20, "a", "acquired", res="other", token=1),
    ]
    assert not check_tokens_increase(good)
    assert check_tokens_increase([*good, ev(30, "c", "acquired", res="r", token=7)])
    assert check_tokens_increase([*good, ev(30, "c", "acquired", res="r", token=9)])


def _write(t: float, w: str, kind: str, token: int, value: int) -> Event:
    return ev(t, w, kind, res="r", token=token, value=value)


def test_a_stale_fenced_write_accepted_is_caught() -> None:
    good = [
        _write(0, "a", "fence_ok", 1, 1),
        _write(10, "b", "fence_ok", 2, 2),
        _write(20, "a", "fence_refused", 1, 3),
    ]
    assert not check_fenced_counter(good, final=2)
    stale = [*good[:2], _write(20, "a", "fence_ok", 1, 3)]
    assert check_fenced_counter(stale, final=3)


def test_a_lost_or_phantom_counter_update_is_caught() -> None:
    # Two writers read 1 and both wrote 2: one increment was lost.
    lost = [
        _write(0, "a", "fence_ok", 1, 1),
        _write(10, "a", "fence_ok", 1, 2),
        _write(20, "b", "fence_ok", 2, 2),
    ]
    assert check_fenced_counter(lost, final=2)
    # An acknowledged write the store does not hold, and a value no write reported.
    assert check_fenced_counter([_write(0, "a", "fence_ok", 1, 1), _write(5, "a", "fence_ok", 1, 2)], final=1)
    assert check_fenced_counter([_write(0, "a", "fence_ok", 1, 1)], final=2)
    # A write whose outcome is unknown may explain a value.
    assert not check_fenced_counter(
        [_write(0, "a", "fence_ok", 1, 1), _write(5, "a", "fence_unknown", 1, 2)], final=2
    )


def _seen(t: float, ids: list[str]) -> Event:
    return ev(t, "o", "seen", res="svc", ids=ids)


def test_a_duplicated_or_lost_registration_is_caught() -> None:
    assert not check_registrations([_seen(0, ["x"]), _seen(5, ["x", "y"])], {"x", "y"}, "o")
    assert check_registrations([_seen(0, ["x", "x", "y"]), _seen(5, ["x", "y"])], {"x", "y"}, "o")
    assert check_registrations([_seen(0, ["x", "y"]), _seen(5, ["x"])], {"x", "y"}, "o")
    assert check_registrations([_seen(0, ["x", "y", "z"])], {"x", "y"}, "o")
    assert check_registrations([], {"x"}, "o")


def _watch(t: float, key: str, value: str | None) -> Event:
    return ev(t, "w", "watch", key=key, type="put" if value is not None else "delete", value=value)


WRITTEN: dict[str, list[str | None]] = {"/k": ["v1", "v2", None, "v3"]}


def test_a_watcher_view_in_order_passes() -> None:
    history = [_watch(1, "/k", "v1"), _watch(2, "/k", "v2"), _watch(3, "/k", None), _watch(4, "/k", "v3")]
    assert not check_watch(history, WRITTEN, {"/k": "v3"})
    # Intermediate states may be skipped (a resync reads the latest), the final one may not.
    assert not check_watch([_watch(1, "/k", "v1"), _watch(4, "/k", "v3")], WRITTEN, {"/k": "v3"})
    assert check_watch([_watch(1, "/k", "v1"), _watch(2, "/k", "v2")], WRITTEN, {"/k": "v3"})


def test_a_watcher_value_out_of_order_duplicated_or_never_written_is_caught() -> None:
    store = {"/k": "v3"}
    assert check_watch([_watch(1, "/k", "v2"), _watch(2, "/k", "v1"), _watch(3, "/k", "v3")], WRITTEN, store)
    assert check_watch([_watch(1, "/k", "v1"), _watch(2, "/k", "v1"), _watch(3, "/k", "v3")], WRITTEN, store)
    assert check_watch([_watch(1, "/k", "v9"), _watch(3, "/k", "v3")], WRITTEN, store)
    assert check_watch([_watch(1, "/other", "v1")], WRITTEN, store)


def test_a_watcher_delete_out_of_order_duplicated_or_never_made_is_caught() -> None:
    """Deletes are events too: one delivered twice, before the put it followed, or for a
    delete that never happened breaks per-key order as much as a misplaced put."""
    store = {"/k": "v3"}
    twice = [_watch(1, "/k", "v2"), _watch(2, "/k", None), _watch(3, "/k", None), _watch(4, "/k", "v3")]
    assert check_watch(twice, WRITTEN, store)
    early = [_watch(1, "/k", "v1"), _watch(2, "/k", None), _watch(3, "/k", "v2"), _watch(4, "/k", "v3")]
    assert check_watch(early, WRITTEN, store)
    never = {"/k": ["v1", "v2", "v3"]}
    assert check_watch([_watch(1, "/k", "v1"), _watch(2, "/k", None), _watch(3, "/k", "v3")], never, store)


def test_a_write_whose_writer_died_before_its_outcome_may_explain_a_value() -> None:
    # Killed between the write reaching the servers and its log line: only the attempt is logged.
    died = [_write(0, "a", "fence_ok", 1, 1), _write(5, "b", "fence_attempt", 2, 2)]
    assert not check_fenced_counter(died, final=2)
    # An attempt that did report an outcome explains nothing more than that outcome says.
    refused = [
        _write(0, "a", "fence_ok", 1, 1),
        _write(5, "b", "fence_attempt", 2, 2),
        _write(6, "b", "fence_refused", 2, 2),
    ]
    assert check_fenced_counter(refused, final=2)
    # No attempt at all: the value is still a phantom.
    assert check_fenced_counter(
        [_write(0, "a", "fence_ok", 1, 1), _write(5, "b", "fence_attempt", 2, 3)], final=2
    )
