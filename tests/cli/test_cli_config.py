"""``coordkit config``: in-process on memory:// stores, and as real processes against real
ZooKeeper and etcd servers (watch until SIGINT/SIGTERM, import/export through files)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import Result

import coordkit
from coordkit.config import Config
from coordkit_cli import output

Invoke = Callable[..., Result]
RunCli = Callable[..., subprocess.CompletedProcess[str]]
OneLineError = Callable[..., None]
DEADLINE = 15.0


# --- get / set / del ---------------------------------------------------------------------------
def test_set_then_get_prints_the_value_alone_as_json(invoke: Invoke, store: coordkit.Client) -> None:
    result = invoke("config", "set", "app", "timeout", "5")
    assert (result.exit_code, result.stdout) == (0, "")
    assert invoke("config", "get", "app", "timeout").stdout == "5\n"
    assert store.get_text("/config/app/timeout") == "5"
    invoke("config", "set", "app", "name", "hello")  # not JSON: stored as a JSON string
    assert store.get_text("/config/app/name") == '"hello"'
    assert invoke("config", "get", "app", "name").stdout == '"hello"\n'
    invoke("config", "set", "app", "features", '{"fast": true, "n": [1, 2]}')
    assert json.loads(invoke("config", "get", "app", "features").stdout) == {"fast": True, "n": [1, 2]}
    invoke("config", "set", "--string", "app", "flag", "true")
    assert invoke("config", "get", "app", "flag").stdout == '"true"\n'
    invoke("config", "set", "app", "on", "true")
    assert invoke("config", "get", "app", "on").stdout == "true\n"
    invoke("config", "set", "--", "app", "offset", "-1")
    assert invoke("config", "get", "app", "offset").stdout == "-1\n"


def test_get_all_settings_and_json(invoke: Invoke, store: coordkit.Client) -> None:
    store.put("/config/app/timeout", "5")
    store.put("/config/app/db/host", '"db1"')
    assert invoke("config", "get", "app").stdout.splitlines() == ['db/host = "db1"', "timeout = 5"]
    data = json.loads(invoke("--json", "config", "get", "app").stdout)
    assert data["app"] == "app" and data["settings"] == {"db/host": "db1", "timeout": 5}
    assert data["revision"] > 0
    one = json.loads(invoke("--json", "config", "get", "app", "timeout").stdout)
    assert one == {"app": "app", "key": "timeout", "value": 5, "version": 1, "revision": data["revision"]}


@pytest.mark.parametrize(
    "args",
    [
        ["config", "get", "nosuchapp"],
        ["config", "get", "nosuchapp", "k"],
        ["config", "export", "nosuchapp"],
        ["--json", "config", "get", "nosuchapp"],
    ],
)
def test_an_app_without_settings_is_not_found(
    invoke: Invoke, one_line_error: OneLineError, args: list[str]
) -> None:
    """Absence the user asked about exits 1 with one line on stderr, never an empty success."""
    result = invoke(*args)
    assert (result.exit_code, result.stdout) == (1, ""), result.stderr
    one_line_error(result.stderr, "'nosuchapp'")


def test_missing_key_and_bad_key(invoke: Invoke, one_line_error: OneLineError) -> None:
    missing = invoke("config", "get", "app", "nope")
    assert missing.exit_code == 1
    one_line_error(missing.stderr, "no setting 'nope'")
    bad = invoke("config", "set", "app", "a//b", "1")
    assert bad.exit_code == 2
    one_line_error(bad.stderr, "a//b")


def test_del(invoke: Invoke, store: coordkit.Client, one_line_error: OneLineError) -> None:
    invoke("config", "set", "app", "timeout", "5")
    assert invoke("config", "del", "app", "timeout").exit_code == 0
    assert store.get("/config/app/timeout") is None
    again = invoke("config", "del", "app", "timeout")
    assert again.exit_code == 1
    one_line_error(again.stderr, "no stored setting 'timeout'")
    assert invoke("config", "del", "-f", "app", "timeout").exit_code == 0
    invoke("config", "set", "app", "x", "1")
    assert json.loads(invoke("--json", "config", "del", "app", "x").stdout) == {
        "app": "app",
        "key": "x",
        "deleted": True,
    }


def test_compare_and_set_conflict_exits_3(
    invoke: Invoke, store: coordkit.Client, one_line_error: OneLineError
) -> None:
    created = json.loads(invoke("--json", "config", "set", "--version", "0", "app", "limit", "1").stdout)
    assert created["version"] == 1 and created["value"] == 1
    taken = invoke("config", "set", "--version", "0", "app", "limit", "2")
    assert taken.exit_code == 3
    one_line_error(taken.stderr, "read the config again")
    assert invoke("config", "set", "--version", "2", "app", "limit", "2").exit_code == 3
    assert invoke("config", "set", "--version", "1", "app", "limit", "2").exit_code == 0
    assert store.get_text("/config/app/limit") == "2"


def test_base_option(invoke: Invoke, store: coordkit.Client) -> None:
    invoke("config", "--base", "/settings", "set", "app", "timeout", "5")
    assert store.get_text("/settings/app/timeout") == "5"
    assert invoke("config", "--base", "/settings", "get", "app", "timeout").stdout == "5\n"
    assert invoke("config", "get", "app", "timeout").exit_code == 1


# --- import / export -----------------------------------------------------------------------------
def test_import_dry_run_shows_the_diff_and_writes_nothing(
    invoke: Invoke, store: coordkit.Client, tmp_path: Path
) -> None:
    invoke("config", "set", "app", "timeout", "5")
    invoke("config", "set", "app", "old", "1")
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"timeout": 9, "name": "x"}))
    dry = invoke("config", "import", "--dry-run", "--prune", "app", str(path))
    assert dry.exit_code == 0
    assert dry.stdout.splitlines() == ['+ name = "x"', "- old (was 1)", "~ timeout = 9 (was 5)"]
    assert "not written" in dry.stderr
    assert store.get_text("/config/app/timeout") == "5" and store.get("/config/app/name") is None
    data = json.loads(invoke("--json", "config", "import", "--dry-run", "app", str(path)).stdout)
    assert data == {
        "app": "app",
        "dry_run": True,
        "applied": False,
        "added": {"name": "x"},
        "changed": {"timeout": {"old": 5, "new": 9}},
        "removed": {},
    }


def test_import_then_export_round_trips(invoke: Invoke, tmp_path: Path) -> None:
    wanted = {"timeout": 9, "name": "x", "db/pool/size": 3, "limits": {"rps": 2.5}, "tags": ["a", None]}
    source = tmp_path / "in.json"
    source.write_text(json.dumps(wanted))
    applied = invoke("config", "import", "app", str(source))
    assert applied.exit_code == 0 and len(applied.stdout.splitlines()) == len(wanted)
    exported = invoke("config", "export", "app")
    assert json.loads(exported.stdout) == wanted
    assert invoke("config", "import", "app", str(source)).stderr.strip() == "coordkit: app: nothing to change"
    out = tmp_path / "out.json"
    assert invoke("config", "export", "-o", str(out), "app").exit_code == 0
    assert json.loads(out.read_text()) == wanted
    again = invoke("config", "import", "--prune", "copy", "-", input=exported.stdout)
    assert again.exit_code == 0 and json.loads(invoke("config", "export", "copy").stdout) == wanted


def test_yaml_import_and_export(invoke: Invoke, tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    source = tmp_path / "in.yaml"
    source.write_text("timeout: 9\nname: 'a: b'\nfeatures:\n  fast: true\n")
    assert invoke("config", "import", "app", str(source)).exit_code == 0
    exported = invoke("config", "export", "--format", "yaml", "app").stdout
    assert yaml.safe_load(exported) == {"timeout": 9, "name": "a: b", "features": {"fast": True}}
    out = tmp_path / "out.yml"
    invoke("config", "export", "-o", str(out), "app")
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(exported)


def test_import_of_a_broken_file(invoke: Invoke, tmp_path: Path, one_line_error: OneLineError) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    result = invoke("config", "import", "app", str(path))
    assert result.exit_code == 2
    one_line_error(result.stderr, "broken.json is not valid JSON")
    path.write_text("[1, 2]")
    result = invoke("config", "import", "app", str(path))
    assert result.exit_code == 2
    one_line_error(result.stderr, "must be a mapping")


# --- watch, in-process -----------------------------------------------------------------------------
def test_watch_prints_each_change_and_exits_0_on_sigterm(
    invoke: Invoke, store: coordkit.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = threading.Event()
    printed: queue.SimpleQueue[str] = queue.SimpleQueue()
    real_on_change, real_line = Config.on_change, output.Output.line

    def on_change(cfg: Config, *args: Any, **kwargs: Any) -> Any:
        registered = real_on_change(cfg, *args, **kwargs)
        ready.set()
        return registered

    def line(out: output.Output, text: str = "") -> None:
        real_line(out, text)
        printed.put(text)

    monkeypatch.setattr(Config, "on_change", on_change)
    monkeypatch.setattr(output.Output, "line", line)

    def drive() -> None:
        try:
            if ready.wait(DEADLINE):
                writer = store.config("app", writable=True)
                writer.set("timeout", 5)
                printed.get(timeout=DEADLINE)
                writer.update({"timeout": 6, "db/host": "h"})
                printed.get(timeout=DEADLINE)
                printed.get(timeout=DEADLINE)
                writer.delete("db/host")
                printed.get(timeout=DEADLINE)
                writer.close()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    result = invoke("config", "watch", "app")
    thread.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "timeout = 5  (new)",
        'db/host = "h"  (new)',
        "timeout = 6  (was 5)",
        'db/host removed  (was "h")',
    ]


# --- real processes, real servers ---------------------------------------------------------------------
class LineReader:
    """Lines of a child's stdout, read on a thread so that every wait has a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._lines.put(raw.decode("utf-8").rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout: float = DEADLINE) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        assert line is not None, "the watch printed nothing more in time"
        return line


def start_watching(
    cli_process: Callable[..., subprocess.Popen[bytes]], cfg: Config, url: str, *args: str
) -> tuple[subprocess.Popen[bytes], LineReader]:
    """Start `config watch` and write a probe key until it prints it: then it is running."""
    proc = cli_process("--url", url, *args, "config", "watch", "app")
    reader = LineReader(proc)
    deadline = time.monotonic() + DEADLINE
    for attempt in range(10**6):
        assert proc.poll() is None and time.monotonic() < deadline, "the watch never started"
        cfg.set("probe", attempt)
        try:
            if "probe" in reader.next(0.5):
                break
        except AssertionError:
            continue
    cfg.delete("probe")
    # The probe written after the one printed may be printed too (a line came late): every
    # line up to the removal names the probe, and nothing about it follows.
    while "removed" not in (line := reader.next()):
        assert "probe" in line, line
    assert "probe" in line, line
    return proc, reader


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_watch_process_streams_until_signalled(
    server_url: str, signum: str, cli_process: Callable[..., subprocess.Popen[bytes]]
) -> None:
    with coordkit.connect(server_url, ttl=4) as client, client.config("app", writable=True) as cfg:
        proc, reader = start_watching(cli_process, cfg, server_url)
        cfg.set("timeout", 5)
        assert reader.next() == "timeout = 5  (new)"
        cfg.update({"timeout": 6, "name": "x"})
        assert sorted([reader.next(), reader.next()]) == ['name = "x"  (new)', "timeout = 6  (was 5)"]
        proc.send_signal(getattr(signal, signum))
        assert proc.wait(timeout=DEADLINE) == 0
        assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()


def test_watch_process_json_lines_keep_an_update_together(
    server_url: str, cli_process: Callable[..., subprocess.Popen[bytes]]
) -> None:
    with coordkit.connect(server_url, ttl=4) as client, client.config("app", writable=True) as cfg:
        proc, reader = start_watching(cli_process, cfg, server_url, "--json")
        revision = cfg.update({"a": 1, "b/c": 2})
        record = json.loads(reader.next())
        assert record["app"] == "app" and record["revision"] >= revision
        assert record["changes"] == [
            {"key": "a", "type": "added", "old": None, "new": 1},
            {"key": "b/c", "type": "added", "old": None, "new": 2},
        ]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=DEADLINE) == 0


def test_set_get_import_export_as_processes(server_url: str, run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("--url", server_url, "config", "set", "app", "timeout", "5").returncode == 0
    assert run_cli("--url", server_url, "config", "get", "app", "timeout").stdout == "5\n"
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"timeout": 9, "db/pool/size": 3}))
    dry = run_cli("--url", server_url, "config", "import", "--dry-run", "app", str(source))
    assert dry.stdout.splitlines() == ["+ db/pool/size = 3", "~ timeout = 9 (was 5)"]
    assert run_cli("--url", server_url, "config", "get", "app", "timeout").stdout == "5\n"
    assert run_cli("--url", server_url, "config", "import", "app", str(source)).returncode == 0
    exported = run_cli("--url", server_url, "config", "export", "app")
    assert json.loads(exported.stdout) == {"timeout": 9, "db/pool/size": 3}
    with coordkit.connect(server_url) as client, client.config("app") as cfg:
        assert dict(cfg) == {"timeout": 9, "db/pool/size": 3}
