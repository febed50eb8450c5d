"""``coordkit lock/elect -- CMD``: the command never starts, or runs on, past the ownership
deadline (checked by the clock before the start and awaited while it runs)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import coordkit
from coordkit_cli._ownership import LossReport, run_while_held
from coordkit_cli._signals import Signals
from coordkit_cli.exit_codes import ExitCode


@pytest.fixture
def cut_holder() -> Iterator[coordkit.Client]:
    client = coordkit.connect(f"memory://holding-{uuid.uuid4().hex}", ttl=1, timeout=0.2)
    yield client
    client.close()


def test_a_command_is_not_started_once_the_deadline_passed(
    cut_holder: coordkit.Client, tmp_path: Path
) -> None:
    lock = cut_holder.lock("jobs", lose_on_suspend=False)
    assert lock.acquire()
    report = LossReport(lock, "lock jobs")
    cut_holder.backend.set_reachable(False)  # type: ignore[attr-defined]
    time.sleep(max(0.0, cut_holder.session.valid_until - time.monotonic()))  # a pause this long
    marker = tmp_path / "ran"
    with pytest.raises(click.exceptions.Exit) as exit_:
        run_while_held([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], {}, report, Signals())
    assert exit_.value.exit_code == ExitCode.SESSION_LOST
    assert not marker.exists(), "the command ran without the lock"


def test_a_running_command_is_stopped_at_the_deadline(cut_holder: coordkit.Client) -> None:
    lock = cut_holder.lock("jobs", lose_on_suspend=False)
    assert lock.acquire()
    report = LossReport(lock, "lock jobs")
    cut_holder.backend.set_reachable(False)  # type: ignore[attr-defined]
    deadline = cut_holder.session.valid_until
    with pytest.raises(click.exceptions.Exit) as exit_:
        run_while_held([sys.executable, "-c", "import time; time.sleep(30)"], {}, report, Signals())
    stopped = time.monotonic()
    assert exit_.value.exit_code == ExitCode.SESSION_LOST
    # Told at the deadline (the command then gets SIGTERM); bounded well under the TTL.
    assert deadline <= stopped < deadline + 0.5 + 1.0  # 1 s: the terminated child's exit
