"""The public factories are typed: mypy refuses a misspelt strategy, option or typed-view
attribute, and accepts the right calls (tests/unit/typing_cases/factories.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

CASES = Path(__file__).parent / "typing_cases"


def _expected_lines(path: Path) -> set[int]:
    return {n for n, line in enumerate(path.read_text().splitlines(), 1) if line.endswith("# error")}


def test_factory_misuse_is_a_type_error_and_the_right_calls_pass() -> None:
    path = CASES / "factories.py"
    stdout, stderr, _ = api.run(
        [
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--hide-error-context",
            "--no-error-summary",
            "--show-error-codes",
            str(path),
        ]
    )
    if stderr:
        pytest.fail(f"mypy could not run: {stderr}")
    found = {int(line.split(":")[1]) for line in stdout.splitlines() if ": error:" in line}
    assert found == _expected_lines(path), stdout
