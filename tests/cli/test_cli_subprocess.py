"""The CLI as users run it: ``python -m coordkit_cli`` processes against real ZooKeeper and
etcd servers, and against an endpoint where nothing listens."""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

import coordkit
from coordkit.testing import EtcdServer, ZooKeeperServer, free_ports

RunCli = Callable[..., subprocess.CompletedProcess[str]]
OneLineError = Callable[..., None]


@pytest.fixture
def client(server_url: str) -> Iterator[coordkit.Client]:
    """A library client on the test's namespace, to prepare and check what the CLI does."""
    with coordkit.connect(server_url, ttl=4) as c:
        yield c


def is_zookeeper(url: str) -> bool:
    return url.startswith("zk://")


def test_put_get_del(server_url: str, run_cli: RunCli, one_line_error: OneLineError) -> None:
    put = run_cli("--url", server_url, "put", "/app/timeout", "5")
    assert (put.returncode, put.stdout, put.stderr) == (0, "", "")
    assert run_cli("--url", server_url, "get", "/app/timeout").stdout == "5\n"
    deleted = run_cli("--url", server_url, "del", "/app/timeout")
    assert deleted.returncode == 0, deleted.stderr
    missing = run_cli("--url", server_url, "get", "/app/timeout")
    assert missing.returncode == 1
    one_line_error(missing.stderr, "/app/timeout: no such key")
    assert run_cli("--url", server_url, "del", "/app/timeout").returncode == 1
    assert run_cli("--url", server_url, "del", "-f", "/app/timeout").returncode == 0


def test_json_and_conditional_writes(server_url: str, run_cli: RunCli, client: coordkit.Client) -> None:
    created = json.loads(run_cli("--url", server_url, "--json", "put", "--create", "/k", "a").stdout)
    assert created["key"] == "/k" and created["version"] == 1
    assert run_cli("--url", server_url, "put", "--create", "/k", "b").returncode == 3
    assert run_cli("--url", server_url, "put", "--version", "2", "/k", "b").returncode == 3
    assert run_cli("--url", server_url, "put", "--version", "1", "/k", "b").returncode == 0
    got = json.loads(run_cli("--url", server_url, "--json", "get", "/k").stdout)
    assert (got["value"], got["encoding"], got["version"]) == ("b", "utf-8", 2)
    assert got["create_revision"] == created["create_revision"] < got["mod_revision"]
    assert got["lease"] == 0
    assert client.get_text("/k") == "b"


def test_binary_value_through_stdin(server_url: str, run_cli: RunCli, client: coordkit.Client) -> None:
    blob = bytes(range(256))
    assert run_cli("--url", server_url, "put", "/blob", "-", input=blob).returncode == 0
    assert client.get("/blob").value == blob  # type: ignore[union-attr]
    got = json.loads(run_cli("--url", server_url, "--json", "get", "/blob").stdout)
    assert base64.b64decode(got["value"]) == blob


def test_a_value_argument_that_is_not_utf8_is_stored_byte_for_byte(
    server_url: str, run_cli: RunCli, client: coordkit.Client
) -> None:
    """argv holds bytes: ones UTF-8 cannot decode reach Python as lone surrogates
    (surrogateescape) and go back to the same bytes, as through stdin (it was an 'internal
    error: UnicodeEncodeError', exit 1)."""
    for raw in (b"a\xff", b"a\xed\xa0\x80", b"\x80z"):
        argument = os.fsdecode(raw)  # what run_cli turns back into exactly these bytes
        put = run_cli("--url", server_url, "put", "/raw", argument)
        assert (put.returncode, put.stderr) == (0, ""), put.stderr
        assert client.get("/raw").value == raw  # type: ignore[union-attr]


def test_ls_and_recursive_delete(server_url: str, run_cli: RunCli, client: coordkit.Client) -> None:
    client.put("/app/config/db", "postgres")
    client.put("/app/config/timeout", "5")
    client.put("/app/leader", "node-1", ephemeral=True)
    assert run_cli("--url", server_url, "ls").stdout == "app/\n"
    assert run_cli("--url", server_url, "ls", "/app").stdout.splitlines() == [
        "config/",
        "leader = node-1  (ephemeral)",
    ]
    assert run_cli("--url", server_url, "ls", "-r", "/app").stdout.splitlines() == [
        "/app",
        "├── config/",
        "│   ├── db      = postgres",
        "│   └── timeout = 5",
        "└── leader = node-1  (ephemeral)",
    ]
    rows = json.loads(run_cli("--url", server_url, "--json", "ls", "-r", "/").stdout)
    keys = {row["key"] for row in rows}
    assert {"/app/config/db", "/app/config/timeout", "/app/leader"} <= keys
    assert all(row["ephemeral"] == (row["key"] == "/app/leader") for row in rows)
    assert run_cli("--url", server_url, "del", "-r", "/app").returncode == 0
    assert client.tree("/") == []
    assert run_cli("--url", server_url, "ls", "/app").returncode == 1


def test_del_of_a_key_with_keys_below(
    server_url: str, run_cli: RunCli, client: coordkit.Client, one_line_error: OneLineError
) -> None:
    client.put("/dir/child", "x")
    result = run_cli("--url", server_url, "del", "/dir")
    assert result.returncode == 1  # /dir was never a key, on ZooKeeper as on etcd
    one_line_error(result.stderr, "/dir: no such key")
    client.put("/dir", "now a key")
    deleted = run_cli("--url", server_url, "del", "/dir")
    assert (deleted.returncode, deleted.stderr) == (0, "")
    assert client.get("/dir") is None and client.get_text("/dir/child") == "x"


def test_status(server_url: str, run_cli: RunCli) -> None:
    kind = "zookeeper" if is_zookeeper(server_url) else "etcd"
    endpoint = server_url.split("://")[1].split("/")[0]
    human = run_cli("--url", server_url, "status")
    assert human.returncode == 0, human.stderr
    fields = dict(line.split(":", 1) for line in human.stdout.splitlines())
    assert fields["backend"].split()[0] == kind
    assert endpoint in fields["endpoints"]
    assert "ms (median of 5 reads)" in fields["round trip"]
    data = json.loads(run_cli("--url", server_url, "--json", "status").stdout)
    assert data["kind"] == kind and endpoint in data["endpoints"]
    assert data["server_version"]
    assert data["session"]["id"] != 0 and data["session"]["ttl"] > 0
    assert data["rtt_ms"] > 0


# --- watch ---------------------------------------------------------------------------------
class LineReader:
    """Lines from a child's stdout, read on a thread so that every wait has a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._lines.put(raw.decode("utf-8").rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line, or None at end of output or when ``timeout`` passes."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def expect(self, wanted: Callable[[str], bool], timeout: float = 15) -> str:
        """The next line ``wanted`` accepts, skipping probe lines; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            line = self.next(remaining)
            if line is None:
                break
            if "/probe" not in line:
                assert wanted(line), line
                return line
        pytest.fail("the watch printed no further change in time")


def wait_until_watching(
    proc: subprocess.Popen[bytes], reader: LineReader, client: coordkit.Client, key: str, timeout: float = 20
) -> None:
    """Write ``key`` until the watch prints it: then the watch is certainly running."""
    deadline = time.monotonic() + timeout
    for attempt in range(10**6):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "watch exited"
        assert time.monotonic() < deadline, "the watch never started"
        client.put(key, str(attempt))
        line = reader.next(0.5)
        if line is not None and key in line:
            return


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_watch_streams_until_signalled(
    server_url: str, client: coordkit.Client, cli_process: Callable[..., subprocess.Popen[bytes]], signum: str
) -> None:
    proc = cli_process("--url", server_url, "watch", "-r", "/w")
    reader = LineReader(proc)
    wait_until_watching(proc, reader, client, "/w/probe")
    # One change at a time: ZooKeeper may fold quick successive writes into the last one.
    client.put("/w/a", "1")
    assert reader.expect(lambda line: True) == "PUT /w/a = 1"
    client.put("/w/b", "two words")
    assert reader.expect(lambda line: True) == "PUT /w/b = two words"
    client.delete("/w/a")
    assert reader.expect(lambda line: True) == "DELETE /w/a"
    proc.send_signal(getattr(signal, signum))
    assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()


def test_watch_json_lines(
    server_url: str, client: coordkit.Client, cli_process: Callable[..., subprocess.Popen[bytes]]
) -> None:
    proc = cli_process("--url", server_url, "--json", "watch", "/w/probe")
    reader = LineReader(proc)
    wait_until_watching(proc, reader, client, "/w/probe")
    client.delete("/w/probe")
    line = reader.next(15)
    while line is not None and '"put"' in line:  # later probe writes
        line = reader.next(15)
    assert line is not None, "no delete event"
    event = json.loads(line)
    assert (event["type"], event["key"]) == ("delete", "/w/probe")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0


# --- failures ------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["etcd", "zk"])
def test_unreachable_endpoint_fails_fast_with_one_line(
    scheme: str, run_cli: RunCli, one_line_error: OneLineError
) -> None:
    port = free_ports(1)[0]  # nothing listens there
    started = time.monotonic()
    result = run_cli("--url", f"{scheme}://127.0.0.1:{port}", "--timeout", "1", "ls", "/", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    one_line_error(result.stderr, f"127.0.0.1:{port}")
    assert elapsed < 8, f"took {elapsed:.1f}s with --timeout 1"


@pytest.mark.parametrize("server_class", [EtcdServer, ZooKeeperServer], ids=["etcd", "zookeeper"])
def test_silent_server_fails_within_the_timeout(
    server_class: type[EtcdServer | ZooKeeperServer], run_cli: RunCli, one_line_error: OneLineError
) -> None:
    # A paused server accepts connections and never answers: only our deadlines end the wait.
    with server_class() as server:
        server.pause()
        started = time.monotonic()
        result = run_cli("--url", server.url, "--timeout", "1", "ls", "/", timeout=30)
        elapsed = time.monotonic() - started
        server.resume()
    assert result.returncode == 4, result.stderr
    one_line_error(result.stderr, server.url.split("://")[1])
    assert elapsed < 8, f"took {elapsed:.1f}s with --timeout 1"


def test_bad_url_in_a_real_process(run_cli: RunCli, one_line_error: OneLineError) -> None:
    result = run_cli("--url", "etcd://", "get", "/k")
    assert result.returncode == 2
    one_line_error(result.stderr, "etcd://")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["get", "/nosuch"], "/nosuch: no such key"),
        (["ls", "/nosuch"], "/nosuch: no such key"),
        (["config", "get", "nosuchapp"], "config 'nosuchapp' has no settings"),
        (["config", "get", "nosuchapp", "k"], "no setting 'k'"),
        (["config", "export", "nosuchapp"], "config 'nosuchapp' has no settings"),
        (["services", "nosuch"], "service nosuch has no live instance"),
        (["--json", "services", "nosuch"], "service nosuch has no live instance"),
    ],
)
def test_absence_asked_about_exits_not_found(
    server_url: str, run_cli: RunCli, one_line_error: OneLineError, args: list[str], fragment: str
) -> None:
    result = run_cli("--url", server_url, *args)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    one_line_error(result.stderr, fragment)


def test_console_script() -> None:
    """The script pip installed beside the interpreter running the tests: never one found on
    PATH, which may be missing on a fresh machine or be an older, hand-made install."""
    script = Path(sys.executable).parent / "coordkit"
    assert script.is_file(), f"{script} is missing: install the project (pip install -e '.[test]')"
    done = subprocess.run(
        [str(script), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "PATH": os.defpath},
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"coordkit {coordkit.__version__}")
