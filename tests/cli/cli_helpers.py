"""What the CLI tests share besides fixtures: the runner, the command line of a real
``python -m coordkit_cli`` process and its environment, unique names (imported by the tests;
conftest.py keeps the fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable

from click.testing import CliRunner, Result

Invoke = Callable[..., Result]
RunCli = Callable[..., subprocess.CompletedProcess[str]]


def unique(prefix: str = "ck-cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_runner() -> CliRunner:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "coordkit_cli", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COORDKIT_URL", None)
    env.pop("COORDKIT_DEBUG", None)
    return env
