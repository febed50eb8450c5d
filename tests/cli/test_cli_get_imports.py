"""``coordkit get`` imports only what it needs (issue 14): run in a fresh interpreter, then the
modules it loaded are inspected. On memory:// (no server needed) for the CLI's own modules, and
on real ZooKeeper and etcd servers for each backend's read path: what only a failure, a
watch, ``status``, a retry or a lost session needs is imported by that code, not by a read
that works at once."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from cli_helpers import cli_env

import coordkit

_PROBE = """
import dataclasses, json, sys
from coordkit_cli.main import cli
sys.argv = ['coordkit', '--url', {url!r}, 'get', {key!r}]
try:
    cli(prog_name='coordkit')
except SystemExit as exit:
    code = exit.code
defined = sorted(
    f"{{name}}.{{value.__name__}}"
    for name, module in list(sys.modules.items()) if name.startswith("coordkit")
    for value in vars(module).values()
    if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name
)
print(json.dumps({{'code': code, 'modules': sorted(sys.modules), 'dataclasses': defined}}))
"""

_NOT_NEEDED = (
    "coordkit.testing",
    "coordkit.dev",
    "coordkit_cli.dev",
    "coordkit_cli.services",
    "coordkit_cli.listing",  # ls's tree
    "coordkit.core.retry",  # the retry policies: imported by a first retry
    "coordkit.core.tls_probe",  # why a connect failed
    "coordkit.backends.reachability",
    "coordkit.discovery._checks",  # the client's defaults are in discovery.defaults
    "coordkit.discovery.instance",
    "coordkit.balancing.balancer",
    "coordkit.backends.server_info",  # what status shows
)
# The dataclasses a get may define: the public value types it reads or that the modules it needs
# must name. Defining a dataclass costs Python 3.11 about a millisecond (a compile per generated
# method); the eighteen a get defined were a sixth of its import time. The internal records on
# this path are NamedTuples or plain classes instead (CONTRIBUTING.md, "Start-up").
_VALUE_TYPES = {
    "coordkit.backends.base.Check",
    "coordkit.backends.base.Delete",
    "coordkit.backends.base.Entry",
    "coordkit.backends.base.Put",
    "coordkit.backends.base.WatchEvent",
    "coordkit.backends.contender_queue.Contender",
    "coordkit.core.security.TLS",
    "coordkit.core.states.SessionEvent",
}
_NOT_NEEDED_ON = {
    "memory": ("tenacity",),
    "zookeeper": (
        "tenacity",  # (etcd3 imports it itself)
        "coordkit.backends.zookeeper.watch",
        "coordkit.backends.zookeeper.persistent",
        "coordkit.backends.zookeeper.status",  # coordkit status
        "concurrent.futures",
    ),
    # importlib.abc imports importlib.resources, tempfile, shutil, bz2, lzma on Python 3.11
    "etcd": ("importlib.abc", "importlib.resources", "tempfile"),
}
_VALUE_TYPES_ON = {"etcd": {"coordkit.backends.etcd.conn.Stubs"}}


def _loaded_by_get(url: str, key: str) -> tuple[int, list[str], list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(url=url, key=key)],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["code"], report["modules"], report["dataclasses"]


def test_get_does_not_import_the_harness_nor_other_commands() -> None:
    code, modules, defined = _loaded_by_get("memory://imports", "/missing")
    assert code == 1  # the missing key: the command did run
    assert [m for m in modules if m.startswith(_NOT_NEEDED + _NOT_NEEDED_ON["memory"])] == []
    assert set(defined) - _VALUE_TYPES == set()


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_a_get_on_a_server_imports_only_its_read_path(kind: str, request: pytest.FixtureRequest) -> None:
    server: Any = request.getfixturevalue(f"{kind}_server")
    with coordkit.connect(server.url) as client:
        client.put("/imports/key", "value")
    code, modules, defined = _loaded_by_get(server.url, "/imports/key")
    assert code == 0
    assert f"coordkit.backends.{kind}.backend" in modules  # the read did go to the server
    assert [m for m in modules if m.startswith(_NOT_NEEDED + _NOT_NEEDED_ON[kind])] == []
    assert "coordkit.backends.base.Entry" in defined  # what is listed: the probe does see them
    assert set(defined) - _VALUE_TYPES - _VALUE_TYPES_ON.get(kind, set()) == set()


def _python(probe: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=cli_env(), check=False
    )


def test_main_leaves_the_heap_frozen_for_the_exit() -> None:
    """main() ends with gc.freeze(): the interpreter's last collections skip what the imports
    made (some 20 ms of a get); the exit code and output are main()'s as ever."""
    probe = (
        "import gc, sys\n"
        "from coordkit_cli.main import main\n"
        "sys.argv = ['coordkit', '--url', 'memory://frozen', 'get', '/missing']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, gc.get_freeze_count() > 0)\n"
    )
    done = _python(probe)
    assert done.stdout.split() == ["1", "True"], done.stderr
    assert "no such key" in done.stderr


def test_the_console_script_pauses_the_collector_while_the_command_starts() -> None:
    """coordkit_cli.entry:main runs the CLI with the collector off, and turns it back on (the
    heap frozen first) once the command has run RESUME_AFTER seconds, so that a long-running
    command collects as usual; importing coordkit_cli.main leaves the collector alone."""
    probe = (
        "import gc, json, sys, time\n"
        "import coordkit_cli.entry as entry, coordkit_cli.main as cli_main\n"
        "assert gc.isenabled()  # importing the CLI changes nothing\n"
        "seen = []\n"
        "def command():\n"
        "    seen.append(gc.isenabled())\n"
        "    deadline = time.monotonic() + 30\n"
        "    while not gc.isenabled() and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    seen.extend([gc.isenabled(), gc.get_freeze_count() > 0])\n"
        "cli_main.main = command\n"
        "entry.RESUME_AFTER = 0.2\n"
        "entry.main()\n"
        "print(json.dumps(seen))\n"
    )
    done = _python(probe)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, True, True]  # paused at start, then resumed, frozen
