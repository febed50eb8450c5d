"""Key names written by other tools: not UTF-8, or holding newlines and control characters.

The library hands such a name back with surrogate escapes (``b"\\xff"`` as ``"\\udcff"``).
``--json`` must stay valid UTF-8 JSON (``key`` with U+FFFD, ``key_base64`` with the exact
bytes), and the human listing must keep one key per line (names escaped like values).
In-process on memory stores (the names written below the name check, as another tool's
would be), and as real processes on etcd, which stores any bytes as a key.
"""

from __future__ import annotations

import base64
import json
import queue
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import IO, Any

import pytest
from cli_helpers import Invoke, unique
from test_cli_watch_inprocess import DEADLINE, WatchDriver

import coordkit
from coordkit.backends.base import Put

Start = Callable[..., subprocess.Popen[bytes]]
ODD = "/d/a\udcff\nb"  # bytes b"/d/a\xff\nb": not UTF-8, and a newline inside
ODD_BYTES = b"/d/a\xff\nb"


def _write_below_the_name_check(store: coordkit.Client, key: str, value: bytes) -> None:
    store.backend.put(Put(key=key, value=value))


def _strict_json(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))  # strict: fails on any byte that is not UTF-8


def _assert_odd_key(item: dict[str, Any], raw: bytes = ODD_BYTES) -> None:
    assert item["key"] == raw.decode("utf-8", "replace")
    assert base64.b64decode(item["key_base64"]) == raw


# --- in-process, memory -----------------------------------------------------------------------
@pytest.fixture
def odd_store(store: coordkit.Client) -> coordkit.Client:
    _write_below_the_name_check(store, ODD, b"v\n1")
    _write_below_the_name_check(store, "/d/esc\x1b[2J", b"x")
    store.put("/d/ok", "plain")
    return store


def test_ls_escapes_names(invoke: Invoke, odd_store: coordkit.Client) -> None:
    result = invoke("ls", "/d")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "a\\xff\\nb   = v\\n1",
        "esc\\x1b[2J = x",
        "ok         = plain",
    ]


def test_ls_recursive_escapes_names(invoke: Invoke, odd_store: coordkit.Client) -> None:
    result = invoke("ls", "-r", "/d")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and lines[0] == "/d"
    assert lines[1:] == ["├── a\\xff\\nb   = v\\n1", "├── esc\\x1b[2J = x", "└── ok         = plain"]
    assert "\x1b" not in result.stdout


@pytest.mark.parametrize("recursive", [False, True])
def test_ls_json_stays_valid_utf8(invoke: Invoke, odd_store: coordkit.Client, recursive: bool) -> None:
    result = invoke("--json", "ls", *(["-r"] if recursive else []), "/d")
    assert result.exit_code == 0, result.stderr
    items = {item["key"]: item for item in _strict_json(result.stdout_bytes)}
    odd = items["/d/a\ufffd\nb"]
    _assert_odd_key(odd)
    assert (odd["value"], odd["encoding"]) == ("v\n1", "utf-8")
    # A name that is UTF-8 (control characters and all) is exact in key: no key_base64.
    assert "key_base64" not in items["/d/esc\x1b[2J"] and "key_base64" not in items["/d/ok"]


def test_watch_escapes_names(invoke: Invoke, store: coordkit.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = WatchDriver(monkeypatch)
    thread = driver.drive(
        lambda: _write_below_the_name_check(store, ODD, b"1"), expected_lines=1, signum=signal.SIGINT
    )
    result = invoke("watch", "-r", "/d")
    thread.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "PUT /d/a\\xff\\nb = 1\n"


def test_watch_json_stays_valid_utf8(
    invoke: Invoke, store: coordkit.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = WatchDriver(monkeypatch)

    def changes() -> None:
        _write_below_the_name_check(store, ODD, b"1")
        store.backend.delete(ODD)

    thread = driver.drive(changes, expected_lines=2, signum=signal.SIGINT)
    result = invoke("--json", "watch", "-r", "/d")
    thread.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    put, delete = (_strict_json(line) for line in result.stdout_bytes.splitlines())
    assert (put["type"], delete["type"]) == ("put", "delete")
    _assert_odd_key(put)
    _assert_odd_key(delete)


# --- real processes, etcd ---------------------------------------------------------------------
def _etcd_put_raw(endpoint: str, key: bytes, value: bytes) -> None:
    """Write a key as another etcd client would: any bytes (through etcd's JSON gateway)."""
    body = json.dumps({"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()})
    with urllib.request.urlopen(f"http://{endpoint}/v3/kv/put", body.encode(), timeout=10) as reply:
        assert reply.status == 200


@pytest.fixture
def etcd_namespace(etcd_server: Any) -> tuple[str, str, bytes]:
    """(url, endpoint, raw key prefix) for a namespace of the test's own on the shared etcd."""
    namespace = unique()
    return f"{etcd_server.url}/{namespace}", etcd_server.endpoints[0], f"/{namespace}".encode()


def test_ls_of_raw_etcd_keys_in_a_real_process(
    etcd_namespace: tuple[str, str, bytes], cli_process: Start
) -> None:
    url, endpoint, prefix = etcd_namespace
    _etcd_put_raw(endpoint, prefix + ODD_BYTES, b"v")
    _etcd_put_raw(endpoint, prefix + b"/d/ok", b"x")
    listing = cli_process("--url", url, "--json", "ls", "-r", "/d")
    out, err = listing.communicate(timeout=30)
    assert listing.returncode == 0, err
    odd, ok = _strict_json(out)
    _assert_odd_key(odd)
    assert ok == {**ok, "key": "/d/ok", "value": "x"} and "key_base64" not in ok
    human = cli_process("--url", url, "ls", "/d")
    out, err = human.communicate(timeout=30)
    assert human.returncode == 0, err
    assert out.decode("utf-8").splitlines() == ["a\\xff\\nb = v", "ok       = x"]


class _RawLines:
    """A child's stdout lines as bytes, read on a thread so every wait has a deadline."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.lines.put(line)

    def next_without(self, noise: bytes, deadline: float) -> bytes:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if noise not in line:
                return line
        pytest.fail("the watch printed nothing in time")


def test_watch_json_of_a_raw_etcd_key_in_a_real_process(
    etcd_namespace: tuple[str, str, bytes], cli_process: Start
) -> None:
    url, endpoint, prefix = etcd_namespace
    proc = cli_process("--url", url, "--json", "watch", "-r", "/d")
    assert proc.stdout is not None
    reader = _RawLines(proc.stdout)
    deadline = time.monotonic() + 20
    with coordkit.connect(url) as client:
        while True:  # write a probe until the watch prints it: then it is certainly running
            assert proc.poll() is None and time.monotonic() < deadline, "the watch never started"
            client.put("/d/probe", "p")
            try:
                if b"/d/probe" in reader.lines.get(timeout=0.5):
                    break
            except queue.Empty:
                pass
    _etcd_put_raw(endpoint, prefix + ODD_BYTES, b"\xfe")
    event = _strict_json(reader.next_without(b"/d/probe", time.monotonic() + 15))
    assert event["type"] == "put"
    _assert_odd_key(event)
    assert (event["value"], event["encoding"]) == ("/g==", "base64")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
