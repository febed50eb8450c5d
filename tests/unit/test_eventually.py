"""``coordkit.testing.eventually``: what it returns, how long it waits, and what its failure says."""

from __future__ import annotations

import re
import threading
import time

import pytest

import coordkit.testing
import coordkit.testing.servers
from coordkit.testing import eventually


def test_exported_from_coordkit_testing() -> None:
    assert "eventually" in coordkit.testing.__all__
    assert coordkit.testing.eventually is eventually
    # coordkit.testing lists the harness's names itself (no star import): none may fall out.
    assert set(coordkit.testing.servers.__all__) <= set(coordkit.testing.__all__)


def test_returns_the_first_truthy_value_without_waiting() -> None:
    calls: list[float] = []

    def check() -> dict[str, int]:
        calls.append(time.monotonic())
        return {"n": 1}

    start = time.monotonic()
    assert eventually(check, timeout=5) == {"n": 1}
    assert len(calls) == 1
    assert time.monotonic() - start < 0.5


def test_retries_falsy_values_and_assertion_errors_until_the_check_passes() -> None:
    answers: list[object] = [None, 0, "", AssertionError("not yet"), [], "done"]

    def check() -> object:
        answer = answers.pop(0)
        if isinstance(answer, AssertionError):
            raise answer
        return answer

    assert eventually(check, timeout=5, interval=0.001) == "done"
    assert answers == []


def test_none_is_not_yet_so_an_assertion_check_returns_true() -> None:
    """A lookup that finds nothing returns None: that must mean "not yet", never "passed"."""
    found: dict[str, str] = {}
    timer = threading.Timer(0.1, found.update, kwargs={"k": "v"})
    timer.start()
    try:
        assert eventually(lambda: found.get("k"), timeout=5, interval=0.01) == "v"
    finally:
        timer.cancel()

    def assertions_without_return() -> None:
        assert True

    with pytest.raises(AssertionError, match="last value: None"):
        eventually(assertions_without_return, timeout=0.05, interval=0.01)


def test_waits_for_another_thread() -> None:
    flag: list[str] = []
    timer = threading.Timer(0.2, flag.append, args=("set",))
    timer.start()
    try:
        assert eventually(lambda: flag, timeout=5, interval=0.01) == ["set"]
    finally:
        timer.cancel()


def test_timeout_names_what_was_awaited_and_the_last_value() -> None:
    values = iter(range(1000))

    def count_is_big() -> bool:
        return next(values) > 10**6

    start = time.monotonic()
    with pytest.raises(AssertionError) as failure:
        eventually(lambda: count_is_big() or None, timeout=0.3, interval=0.01, message="the count to grow")
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 1.5  # it waited the whole timeout, and not much more
    text = str(failure.value)
    assert "the count to grow" in text
    assert "0.3 s" in text
    assert "last value: None" in text


def test_timeout_reports_the_last_assertion_error_and_chains_it() -> None:
    attempts = iter(range(1000))

    def leader_is_b() -> None:
        n = next(attempts)
        raise AssertionError(f"leader is a (attempt {n})")

    with pytest.raises(AssertionError) as failure:
        eventually(leader_is_b, timeout=0.2, interval=0.01)
    text = str(failure.value)
    assert "leader_is_b" in text  # the check's name when no message is given
    assert re.search(r"last error: AssertionError\('leader is a \(attempt [1-9]\d*\)'\)", text), text
    assert isinstance(failure.value.__cause__, AssertionError)
    assert "leader is a" in str(failure.value.__cause__)


def test_the_last_check_happens_at_the_deadline_not_an_interval_later() -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError):
        eventually(lambda: False, timeout=0.2, interval=5)
    assert time.monotonic() - start < 1.5


def test_a_zero_timeout_checks_exactly_once() -> None:
    calls: list[int] = []

    def check() -> bool:
        calls.append(1)
        return False

    with pytest.raises(AssertionError, match=re.escape("timed out after 0 s")):
        eventually(check, timeout=0)
    assert calls == [1]


def test_other_exceptions_propagate_at_once() -> None:
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise KeyError("a bug, not a wait")

    with pytest.raises(KeyError, match="a bug"):
        eventually(broken, timeout=5)
    assert calls == [1]


def test_ignoring_retries_the_named_exceptions_and_reports_the_last() -> None:
    answers: list[object] = [ConnectionError("restarting"), ConnectionError("still"), 42]

    def check() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert eventually(check, timeout=5, interval=0.001, ignoring=(ConnectionError,)) == 42

    def down() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match=re.escape("last error: ConnectionError('refused')")):
        eventually(down, timeout=0.05, interval=0.01, ignoring=(ConnectionError,))


@pytest.mark.parametrize(
    ("options", "wrong"),
    [
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"interval": 0}, "interval"),
        ({"interval": -0.1}, "interval"),
    ],
)
def test_bad_timeouts_are_a_value_error(options: dict[str, float], wrong: str) -> None:
    with pytest.raises(ValueError, match=wrong):
        eventually(lambda: True, **options)  # type: ignore[arg-type]
