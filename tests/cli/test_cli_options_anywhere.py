"""The global output option --json may follow the subcommand (`coordkit get --json K`), as
etcdctl takes `-w json` anywhere; everything after `--` belongs to the command that lock,
elect and register run, --json included."""

from __future__ import annotations

import json
import sys

import pytest
from cli_helpers import Invoke, RunCli

import coordkit

_PRINT_ARGS = "import json, sys; print(json.dumps(sys.argv[1:]))"


def _timeless(document: object) -> object:
    """``document`` without ``age_seconds``, which differs between two runs a moment apart."""
    if isinstance(document, list):
        return [_timeless(item) for item in document]
    if isinstance(document, dict):
        return {key: _timeless(value) for key, value in document.items() if key != "age_seconds"}
    return document


@pytest.mark.parametrize(
    "args",
    [
        ["get", "/app/k"],
        ["ls", "/app"],
        ["ls", "-r", "/app"],
        ["config", "get", "app"],
        ["config", "get", "app", "timeout"],
        ["services"],
        ["services", "payment"],
    ],
)
def test_json_after_the_command_means_the_global_json(
    invoke: Invoke, store: coordkit.Client, args: list[str]
) -> None:
    store.put("/app/k", "v")
    store.put("/config/app/timeout", "5")
    with store.register("payment", "10.0.0.7", 8080, id="a"):
        path = 2 if args[0] == "config" else 1  # the command's name: `config get` is two words
        before = invoke("--json", *args)
        after = invoke(*args[:path], "--json", *args[path:])
        at_the_end = invoke(*args, "--json")
    assert before.exit_code == after.exit_code == at_the_end.exit_code == 0, before.stderr + after.stderr
    parsed = [_timeless(json.loads(result.stdout)) for result in (before, after, at_the_end)]
    assert parsed[0] == parsed[1] == parsed[2]
    assert after.stderr == before.stderr


def test_json_after_a_group_name(invoke: Invoke, store: coordkit.Client) -> None:
    store.put("/config/app/timeout", "5")
    assert json.loads(invoke("config", "--json", "get", "app").stdout)["settings"] == {"timeout": 5}


@pytest.mark.parametrize(
    "command", [["lock", "/x"], ["elect", "/x", "me"], ["register", "svc", "127.0.0.1:8080"]]
)
def test_json_after_the_double_dash_belongs_to_the_command(run_cli: RunCli, command: list[str]) -> None:
    done = run_cli("--url", "memory://", *command, "--", sys.executable, "-c", _PRINT_ARGS, "--json", "-x")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["--json", "-x"]  # the command's stdout alone, its arguments intact
