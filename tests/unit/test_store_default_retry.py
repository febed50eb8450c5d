"""The default retry of idempotent calls (``Store._retried_on_unavailable``): what tenacity's
``Retrying(stop=stop_after_delay(t), wait=QUICK, ...)`` did, with a first attempt that needs
no tenacity (issue 14: the CLI's ``get`` does not import it)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from coordkit import BackendUnavailableError, NotFoundError
from coordkit.core.store import _retried_on_unavailable

ROOT = Path(__file__).resolve().parents[2]


class Flaky:
    """Fails with ``error`` ``failures`` times, then answers "ok"."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or BackendUnavailableError("down")

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_a_first_answer_is_returned_after_one_call() -> None:
    fn = Flaky(0)
    assert _retried_on_unavailable(fn, 5.0) == "ok"
    assert fn.calls == 1


def test_unavailable_is_retried_until_it_answers() -> None:
    fn = Flaky(3)
    assert _retried_on_unavailable(fn, 5.0) == "ok"
    assert fn.calls == 4  # the first failure is not made twice


def test_other_errors_are_raised_at_once() -> None:
    fn = Flaky(5, NotFoundError("no"))
    with pytest.raises(NotFoundError):
        _retried_on_unavailable(fn, 5.0)
    assert fn.calls == 1


def test_the_timeout_bounds_all_attempts_and_the_last_error_is_raised() -> None:
    fn = Flaky(10**6)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="down"):
        _retried_on_unavailable(fn, 0.3)
    elapsed = time.monotonic() - started
    # QUICK waits at most 0.5 s after the bound is reached
    assert 0.3 <= elapsed < 0.3 + 0.5 + 0.5
    assert fn.calls >= 2


def test_a_spent_timeout_makes_one_attempt() -> None:
    fn = Flaky(10**6)
    with pytest.raises(BackendUnavailableError):
        _retried_on_unavailable(fn, 0.0)
    assert fn.calls == 1


def test_a_call_that_works_does_not_import_tenacity() -> None:
    probe = (
        "import sys, coordkit\n"
        "with coordkit.connect('memory://no-tenacity') as c:\n"
        "    c.put('/a', 'x'); assert c.get('/a').value == b'x'\n"
        "print('tenacity' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
