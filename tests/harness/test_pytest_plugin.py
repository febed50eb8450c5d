"""The pytest plugin is loaded in every downstream project's test run: it must leave the process's
SIGTERM disposition alone unless asked (``coordkit_sigterm_exit`` ini option or
``--coordkit-sigterm-exit``). Each case is a real pytest subprocess in a project of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# The probe runs inside the child pytest: it reports the SIGTERM disposition it finds, having made
# sure that the coordkit plugin really is loaded there (else "left alone" would prove nothing).
PROBE = """
import signal

import pytest


def test_probe(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.has_plugin("coordkit"), "the coordkit plugin is not loaded"
    handler = signal.getsignal(signal.SIGTERM)
    if handler is signal.SIG_DFL:
        print("SIGTERM=default")
    elif handler is signal.SIG_IGN:
        print("SIGTERM=ignored")
    else:
        with pytest.raises(SystemExit) as stopped:
            handler(signal.SIGTERM, None)
        print(f"SIGTERM=exit {stopped.value.code}")
"""


def run_probe(tmp_path: Path, ini: str, *args: str, ignore_sigterm: bool = False) -> str:
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + ini)
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

    def ignore() -> None:  # SIG_IGN survives exec: the child starts with SIGTERM ignored
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=ignore if ignore_sigterm else None,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "SIGTERM=" in line]
    assert len(lines) == 1, done.stdout
    return lines[0][lines[0].index("SIGTERM=") :]


def test_a_plain_run_leaves_sigterm_alone(tmp_path: Path) -> None:
    assert run_probe(tmp_path, "") == "SIGTERM=default"


def test_the_ini_option_turns_sigterm_into_exit(tmp_path: Path) -> None:
    assert run_probe(tmp_path, "coordkit_sigterm_exit = true\n") == "SIGTERM=exit 143"


def test_the_ini_option_false_leaves_sigterm_alone(tmp_path: Path) -> None:
    assert run_probe(tmp_path, "coordkit_sigterm_exit = false\n") == "SIGTERM=default"


def test_the_flag_turns_sigterm_into_exit(tmp_path: Path) -> None:
    assert run_probe(tmp_path, "", "--coordkit-sigterm-exit") == "SIGTERM=exit 143"


def test_a_handler_set_before_is_kept(tmp_path: Path) -> None:
    assert run_probe(tmp_path, "coordkit_sigterm_exit = true\n", ignore_sigterm=True) == "SIGTERM=ignored"


def test_the_projects_own_runs_ask_for_it(request: pytest.FixtureRequest) -> None:
    """coordkit's own suite starts servers in every run: its config opts in (pyproject.toml)."""
    assert request.config.getini("coordkit_sigterm_exit") is True
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
