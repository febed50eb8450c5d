"""A stored value that is meant as JSON but is not (``{bad json``), written by another tool
(etcdctl, a raw kazoo client, the raw memory backend), is never served as a value: readers keep the last valid
value (or the default, or nothing), tell the error callback, and the CLI fails naming it."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from kazoo.client import KazooClient

import coordkit
from coordkit.backends.base import Put
from coordkit.config import Config, ConfigValidationError
from coordkit.testing import etcd_binary, etcdctl_binary
from coordkit_cli import output
from coordkit_cli.main import cli

DEADLINE = 15.0
BAD = b"{bad json"
RawPut = Callable[[str, bytes], None]


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, RawPut]]:
    """(url, raw_put): the store's root, and a writer that goes around coordkit's config,
    through the backend's own client: etcdctl, kazoo, or the memory backend itself."""
    kind = str(request.param)
    if kind == "memory":
        url = f"memory://bad-json-{uuid.uuid4().hex[:10]}"
        with coordkit.connect(url) as raw:
            yield url, lambda key, value: raw.backend.put(Put(key, value))
        return
    server = request.getfixturevalue(f"{kind}_server")
    if kind == "etcd":
        ctl = etcdctl_binary(etcd_binary())
        assert ctl is not None, "etcdctl is missing: apt-get install etcd-client"

        def etcdctl_put(key: str, value: bytes) -> None:
            done = subprocess.run(
                [ctl, f"--endpoints={','.join(server.endpoints)}", "put", key, value],
                capture_output=True,
                timeout=20,
                check=False,
                env={**os.environ, "ETCDCTL_API": "3"},
            )
            assert done.returncode == 0, done.stderr.decode(errors="replace")

        yield server.url, etcdctl_put
        return
    zk = KazooClient(hosts=",".join(server.endpoints), timeout=5)
    zk.start(timeout=10)
    try:

        def kazoo_put(key: str, value: bytes) -> None:
            if zk.exists(key):
                zk.set(key, value)
            else:
                zk.create(key, value, makepath=True)

        yield server.url, kazoo_put
    finally:
        zk.stop()
        zk.close()


def _app() -> str:
    return "app-" + uuid.uuid4().hex[:10]


def _next_error(errors: queue.SimpleQueue[ConfigValidationError]) -> ConfigValidationError:
    try:
        return errors.get(timeout=DEADLINE)
    except queue.Empty:
        pytest.fail("the error callback was not called in time")


def test_readers_keep_the_last_valid_value_and_report_the_bad_key(store: tuple[str, RawPut]) -> None:
    url, raw_put = store
    app = _app()
    with coordkit.connect(url, ttl=4) as client, client.config(app, writable=True) as admin:
        admin.update({"retries": 3})
        with client.config(app, defaults={"timeout": 5}) as cfg:
            assert cfg["retries"] == 3
            errors: queue.SimpleQueue[ConfigValidationError] = queue.SimpleQueue()
            cfg.on_error(errors.put)
            raw_put(f"/config/{app}/retries", BAD)
            error = _next_error(errors)
            assert error.key == "retries" and "not valid JSON" in str(error) and app in str(error)
            assert "bad json" not in str(error), "values may be secrets: errors do not quote them"
            assert cfg["retries"] == 3, "the last valid value, never the text"
            assert cfg.snapshot().invalid.keys() == {"retries"}
            raw_put(f"/config/{app}/timeout", b'[5, "s"')  # never valid: the default stays
            assert _next_error(errors).key == "timeout"
            raw_put(f"/config/{app}/fresh", BAD)  # never valid, no default: absent
            assert _next_error(errors).key == "fresh"
            assert cfg["timeout"] == 5 and "fresh" not in cfg and cfg.source("timeout") == "default"
            assert cfg.snapshot().invalid.keys() == {"retries", "timeout", "fresh"}
            with pytest.raises(ConfigValidationError, match="fresh, retries, timeout"):
                cfg.export()  # an export that dropped or replaced them would lose data silently
            raw_put(f"/config/{app}/retries", b"7")
            assert cfg.wait_until(lambda snap: snap.get("retries") == 7, DEADLINE)
            assert cfg.snapshot().invalid.keys() == {"timeout", "fresh"}


def test_a_config_opened_over_a_bad_value_serves_the_default(store: tuple[str, RawPut]) -> None:
    url, raw_put = store
    app = _app()
    raw_put(f"/config/{app}/retries", BAD)
    raw_put(f"/config/{app}/timeout", b"9")
    raw_put(f"/config/{app}/name", b"hello")  # plain text, as `config set` reads it: a string
    raw_put(f"/config/{app}/blob", b"\xff\xfe")  # not UTF-8: not JSON text either
    with coordkit.connect(url, ttl=4) as client, client.config(app, defaults={"retries": 3}) as cfg:
        assert dict(cfg) == {"retries": 3, "timeout": 9, "name": "hello"}
        assert cfg.snapshot().invalid.keys() == {"retries", "blob"}
        assert "UTF-8" in cfg.snapshot().invalid["blob"].problem


def _config_get(url: str, *args: str, json_out: bool = False) -> tuple[int, str, str]:
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 keeps stderr apart by itself
        runner = CliRunner()
    result = runner.invoke(
        cli, ["--url", url, *(["--json"] if json_out else []), "config", "get", *args], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_get_fails_naming_the_bad_key_and_prints_the_valid_ones(store: tuple[str, RawPut]) -> None:
    url, raw_put = store
    app = _app()
    raw_put(f"/config/{app}/retries", BAD)
    raw_put(f"/config/{app}/timeout", b"9")
    code, out, err = _config_get(url, app, "retries")
    assert code != 0 and out == ""
    assert "retries" in err and "not valid JSON" in err and len(err.strip().splitlines()) == 1
    code, out, err = _config_get(url, app)
    assert code != 0 and out.splitlines() == ["timeout = 9"]
    assert "retries" in err and "not valid JSON" in err
    code, out, err = _config_get(url, app, json_out=True)
    document = json.loads(out)
    assert code != 0 and document["settings"] == {"timeout": 9} and list(document["invalid"]) == ["retries"]
    assert _config_get(url, app, "timeout")[:2] == (0, "9\n")


def test_cli_watch_reports_bad_keys_on_stderr_and_keeps_following(
    store: tuple[str, RawPut], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config watch` names each key whose stored value is not JSON on stderr, one found at the
    start and one written while it runs, and goes on printing the valid changes."""
    url, raw_put = store
    app = _app()
    raw_put(f"/config/{app}/early", BAD)
    ready = threading.Event()
    notes: queue.SimpleQueue[str] = queue.SimpleQueue()
    printed: queue.SimpleQueue[str] = queue.SimpleQueue()
    real_on_change, real_note, real_line = Config.on_change, output.Output.note, output.Output.line

    def on_change(cfg: Config, *args: Any, **kwargs: Any) -> Any:
        registered = real_on_change(cfg, *args, **kwargs)
        ready.set()
        return registered

    def note(text: str) -> None:
        real_note(text)
        notes.put(text)

    def line(out: output.Output, text: str = "") -> None:
        real_line(out, text)
        printed.put(text)

    monkeypatch.setattr(Config, "on_change", on_change)
    monkeypatch.setattr(output.Output, "note", staticmethod(note))
    monkeypatch.setattr(output.Output, "line", line)
    seen: list[str] = []

    def note_naming(key: str) -> None:
        while not any(f": {key}: " in text for text in seen):
            seen.append(notes.get(timeout=DEADLINE))

    def drive() -> None:
        try:
            if ready.wait(DEADLINE):
                note_naming("early")
                raw_put(f"/config/{app}/retries", BAD)
                note_naming("retries")
                with coordkit.connect(url, ttl=4) as client, client.config(app, writable=True) as cfg:
                    cfg.set("timeout", 5)
                    printed.get(timeout=DEADLINE)
        except queue.Empty:
            pass  # the assertions below say what was missing
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(cli, ["--url", url, "config", "watch", app], catch_exceptions=False)
    thread.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["timeout = 5  (new)"]
    bad = [text for text in result.stderr.splitlines() if "not valid JSON" in text]
    assert [key for key in ("early", "retries") if any(f": {key}: " in text for text in bad)] == [
        "early",
        "retries",
    ], result.stderr
    assert "bad json" not in result.stderr, "values may be secrets: never quoted"
