"""``coordkit services`` and ``coordkit register``: in-process on memory stores, and as real
processes against real ZooKeeper and etcd servers."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from cli_helpers import Invoke, RunCli, cli_command

import coordkit

DEADLINE = 15.0
Start = Callable[..., subprocess.Popen[bytes]]


# --- in-process, memory store ------------------------------------------------------------------
def test_services_lists_services_with_counts(invoke: Invoke, store: coordkit.Client) -> None:
    store.register("payment", "10.0.0.7", 8080, id="a")
    store.register("payment", "10.0.0.8", 8080, id="b")
    store.register("orders", "10.0.0.9", 9000, id="c")
    result = invoke("services")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["orders   1", "payment  2"]
    result = invoke("--json", "services")
    assert json.loads(result.stdout) == [
        {"service": "orders", "instances": 1},
        {"service": "payment", "instances": 2},
    ]


def test_services_name_lists_instances(invoke: Invoke, store: coordkit.Client) -> None:
    reg = store.register("payment", "10.0.0.7", 8080, id="a", metadata={"zone": "eu-1", "v": "2"}, weight=3)
    store.register("payment", "::1", 8081, id="b")
    lines = invoke("services", "payment").stdout.splitlines()
    assert lines[0].split() == ["ID", "ADDRESS", "WEIGHT", "STATUS", "AGE", "METADATA"]
    assert lines[1].split() == ["a", "10.0.0.7:8080", "3", "up", lines[1].split()[4], "v=2,zone=eu-1"]
    assert lines[1].split()[4].endswith("s")
    assert lines[2].split() == ["b", "[::1]:8081", "1", "up", lines[2].split()[4], "-"]
    (first, _) = json.loads(invoke("--json", "services", "payment").stdout)
    assert first["id"] == "a" and first["endpoint"] == "10.0.0.7:8080" and first["weight"] == 3
    assert (
        first["metadata"] == {"zone": "eu-1", "v": "2"}
        and first["registered_at"] == reg.instance.registered_at
    )
    assert 0 <= first["age_seconds"] < 60


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_services_of_an_unknown_service_is_not_found(invoke: Invoke, json_flag: list[str]) -> None:
    """Absence the user asked about exits 1 (the table's not-found code), one line on stderr."""
    result = invoke(*json_flag, "services", "nobody")
    assert (result.exit_code, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith("coordkit: service nobody has no live instance")
    assert len(result.stderr.splitlines()) == 1
    assert invoke("services").exit_code == 0  # an empty registry is a list, not an absence


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["register", "payment", "10.0.0.7"], "host:port"),
        (["register", "payment", "10.0.0.7:http"], "host:port"),
        (["register", "payment", "h:80", "--meta", "novalue"], "KEY=VALUE"),
        (["register", "payment", "h:80", "--weight", "0"], "weight"),
        (["register", "a/b", "h:80"], "single segment"),
        (["services", "a/b"], "single segment"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    invoke: Invoke, args: list[str], fragment: str, one_line_error: Callable[..., None]
) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.stdout
    one_line_error(result.stderr, fragment)


# --- real processes, real servers --------------------------------------------------------------
def _line(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().decode().strip()


def _instances(url: str, name: str = "payment") -> list[str]:
    with coordkit.connect(url) as client:
        return [i.id for i in client.instances(name)]


def test_register_holds_until_sigterm_then_deregisters(server_url: str, cli_process: Start) -> None:
    proc = cli_process(
        "--url",
        server_url,
        "register",
        "payment",
        "10.0.0.7:8080",
        "--id",
        "a",
        "--meta",
        "zone=eu-1",
        "--weight",
        "2",
        "--ttl",
        "5",
    )
    assert _line(proc) == "/services/payment/a"
    with coordkit.connect(server_url) as client:
        (found,) = client.instances("payment")
        assert (found.endpoint, dict(found.metadata), found.weight) == ("10.0.0.7:8080", {"zone": "eu-1"}, 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE) == 0
        assert client.instances("payment") == []  # deregistered, not left to the TTL


def test_register_runs_a_sidecar_command_and_exits_with_its_status(server_url: str, run_cli: RunCli) -> None:
    script = 'echo "$COORDKIT_SERVICE $COORDKIT_INSTANCE_ID $COORDKIT_INSTANCE_KEY"; exit 7'
    done = run_cli(
        "--url", server_url, "register", "payment", "10.0.0.7:8080", "--id", "side", "--", "sh", "-c", script
    )
    assert done.returncode == 7, done.stderr
    assert done.stdout == "payment side /services/payment/side\n"  # stdout is the command's alone
    assert _instances(server_url) == []


def test_sidecar_instance_is_listed_while_the_command_runs(server_url: str, run_cli: RunCli) -> None:
    # The command itself lists the service through coordkit: it sees its own registration.
    done = run_cli(
        "--url",
        server_url,
        "register",
        "payment",
        "10.0.0.7:8080",
        "--id",
        "me",
        "--",
        *cli_command("--url", server_url, "--json", "services", "payment"),
    )
    assert done.returncode == 0, done.stderr
    assert [i["id"] for i in json.loads(done.stdout)] == ["me"]


def test_services_watch_follows_changes_and_exits_0_on_sigint(server_url: str, cli_process: Start) -> None:
    with coordkit.connect(server_url) as client:
        client.register("payment", "10.0.0.7", 8080, id="a")
        watcher = cli_process("--url", server_url, "--json", "services", "payment", "--watch")
        first = json.loads(_line(watcher))
        assert (first["event"], first["id"], first["endpoint"]) == ("added", "a", "10.0.0.7:8080")
        b = client.register("payment", "10.0.0.8", 8080, id="b")
        added = json.loads(_line(watcher))
        assert (added["event"], added["id"]) == ("added", "b")
        b.update(weight=5)
        changed = json.loads(_line(watcher))
        assert (changed["event"], changed["id"], changed["weight"]) == ("updated", "b", 5)
        b.deregister()
        removed = json.loads(_line(watcher))
        assert (removed["event"], removed["id"]) == ("removed", "b")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(DEADLINE) == 0


def test_services_watch_without_a_name_follows_every_service(server_url: str, cli_process: Start) -> None:
    with coordkit.connect(server_url) as client:
        a = client.register("payment", "10.0.0.7", 8080, id="a")
        watcher = cli_process("--url", server_url, "services", "--watch")
        assert _line(watcher) == "+ payment/a 10.0.0.7:8080 weight=1"
        client.register("orders", "10.0.0.9", 9000, id="o", metadata={"zone": "b"})
        assert _line(watcher) == "+ orders/o 10.0.0.9:9000 weight=1 zone=b"
        a.drain("deploy")  # a status change is a line of its own (issue 15)
        assert _line(watcher) == "~ payment/a 10.0.0.7:8080 weight=1 status=draining (deploy)"
        a.up()
        assert _line(watcher) == "~ payment/a 10.0.0.7:8080 weight=1"
        started = time.monotonic()
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(DEADLINE) == 0 and time.monotonic() - started < DEADLINE
