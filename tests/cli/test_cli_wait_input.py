"""Bad values of lock/elect --wait are usage errors naming --wait, whatever the value."""

from __future__ import annotations

import pytest
from cli_helpers import Invoke


@pytest.mark.parametrize("command", [["lock", "jobs/n"], ["elect", "jobs/e", "me"]])
@pytest.mark.parametrize("value", ["nan", "-1", "soon"])
def test_a_bad_wait_is_a_usage_error_naming_wait(invoke: Invoke, command: list[str], value: str) -> None:
    result = invoke(*command, "--wait", value, "--", "true")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--wait" in lines[0], lines
