"""Usage errors are one line, ``coordkit: <message> (see 'coordkit <cmd> --help')``, exit 2,
in-process and in a real process; --help, --version, bare groups and exit codes keep
what Click gives them."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
import pytest
from cli_helpers import Invoke, RunCli

import coordkit
from coordkit_cli.main import CoordkitGroup

OneLineError = Callable[..., None]
# click >= 8.2 answers a bare group with its help on stderr and exit 2; older ones exit 0.
BARE_GROUP_EXIT = 2 if hasattr(click.exceptions, "NoArgsIsHelpError") else 0


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--timeout", "0", "ls"], ["Invalid value for '--timeout'", "(see 'coordkit --help')"]),
        (["watch", "/"], ["use `watch -r /`", "(see 'coordkit watch --help')"]),
        (["register", "svc", "127.0.0.1:0"], ["port 0", "(see 'coordkit register --help')"]),
        (["register", "svc", "h:80", "--weight", "0"], ["'--weight'", "(see 'coordkit register --help')"]),
        (["nosuchcommand"], ["No such command 'nosuchcommand'", "(see 'coordkit --help')"]),
        (["ls", "--bogus"], ["No such option", "--bogus", "(see 'coordkit ls --help')"]),
        (["config", "set", "app"], ["Missing argument 'KEY'", "(see 'coordkit config set --help')"]),
        (
            ["put", "--create", "--version", "2", "/k", "v"],
            ["exclude each other", "(see 'coordkit put --help')"],
        ),
        (["lock", "--ttl", "0", "/x"], ["'--ttl'", "(see 'coordkit lock --help')"]),
    ],
)
def test_usage_errors_are_one_line(
    invoke: Invoke, one_line_error: OneLineError, args: list[str], fragments: list[str]
) -> None:
    result = invoke(*args)
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    one_line_error(result.stderr, *fragments)
    assert result.stderr.rstrip("\n").endswith("--help')")
    assert "Usage:" not in result.stderr and "Error:" not in result.stderr


def test_the_line_has_no_doubled_full_stop(invoke: Invoke) -> None:
    result = invoke("--timeout", "0", "ls")
    assert result.stderr == (
        "coordkit: Invalid value for '--timeout': 0.0 is not in the range x>0 (see 'coordkit --help')\n"
    )


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["ls", "--help"], ["config", "set", "-h"]])
def test_help_still_prints_and_exits_0(invoke: Invoke, args: list[str]) -> None:
    result = invoke(*args, url="etcd://127.0.0.1:1")  # nothing may connect
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: coordkit") and "Options:" in result.stdout


def test_version_still_prints_and_exits_0(invoke: Invoke) -> None:
    result = invoke("--version", url=None)
    assert (result.exit_code, result.stdout) == (0, f"coordkit {coordkit.__version__}\n")


@pytest.mark.parametrize("args", [[], ["config"]])
def test_a_bare_group_shows_its_help(invoke: Invoke, args: list[str]) -> None:
    result = invoke(*args, url=None)
    assert result.exit_code == BARE_GROUP_EXIT
    assert "Commands:" in result.stdout + result.stderr


def test_a_command_exit_status_passes_through(invoke: Invoke) -> None:
    # lock/elect/register with a command exit with its status (a click Exit inside invoke).
    result = invoke("lock", "/x", "--", sys.executable, "-c", "raise SystemExit(7)")
    assert result.exit_code == 7, result.stderr


def test_abort_while_click_parses_exits_130(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: CoordkitGroup, *args: object, **kwargs: object) -> list[str]:
        raise KeyboardInterrupt  # Ctrl-C before any command runs: Click would say "Aborted!"

    # parse_args: where Click parses the global options, inside the group's make_context.
    monkeypatch.setattr(CoordkitGroup, "parse_args", interrupted)
    result = invoke("ls")
    assert result.exit_code == 130
    assert "Aborted" not in result.stderr and "Traceback" not in result.stderr


def test_abort_from_a_command_exits_130(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def get(self: coordkit.Client, key: str) -> None:
        raise click.Abort()

    monkeypatch.setattr(coordkit.Client, "get", get)
    result = invoke("get", "/k")
    assert result.exit_code == 130 and "Aborted" not in result.stderr


def test_not_standalone_raises_for_the_caller(memory_url: str) -> None:
    from coordkit_cli.main import cli

    with pytest.raises(click.UsageError):
        cli.main(["--url", memory_url, "watch", "/"], standalone_mode=False)


# --- real processes --------------------------------------------------------------------------
def test_usage_error_in_a_real_process(run_cli: RunCli) -> None:
    result = run_cli("--timeout", "0", "ls")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "coordkit: Invalid value for '--timeout': 0.0 is not in the range x>0 (see 'coordkit --help')\n"
    )
    watch = run_cli("--url", "memory://", "watch", "/")
    assert watch.returncode == 2
    assert watch.stderr.splitlines() == [
        "coordkit: '/' is not a key; use `watch -r /` to watch every key (see 'coordkit watch --help')"
    ]


def test_help_in_a_real_process(run_cli: RunCli) -> None:
    result = run_cli("register", "--help")
    assert result.returncode == 0 and result.stdout.startswith("Usage: coordkit register")
