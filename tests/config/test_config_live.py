"""Live configuration on every backend: reading, following changes, listeners, atomicity,
layers, sessions. Writers are other clients (other connections, other sessions)."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import coordkit
from coordkit import Put
from coordkit.config import ConfigChanges

DEADLINE = 10.0
MakeClient = Callable[..., coordkit.Client]


class Changes:
    """A listener that queues every change batch, with deadline-bound waits."""

    def __init__(self) -> None:
        self.batches: queue.SimpleQueue[ConfigChanges] = queue.SimpleQueue()

    def __call__(self, changes: ConfigChanges) -> None:
        self.batches.put(changes)

    def next(self, timeout: float = DEADLINE) -> ConfigChanges:
        try:
            return self.batches.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("no change batch arrived in time")

    def none_within(self, seconds: float) -> bool:
        try:
            extra = self.batches.get(timeout=seconds)
        except queue.Empty:
            return True
        pytest.fail(f"unexpected change batch: {extra!r}")


def values_of(batch: ConfigChanges) -> dict[str, object]:
    return {key: change.new for key, change in batch.items()}


# --- reading ---------------------------------------------------------------------------------
def test_stored_json_text_plain_text_and_nested_keys(client: coordkit.Client) -> None:
    client.put("/config/app/timeout", "9")
    client.put("/config/app/name", "hello")  # not JSON: served as a string
    client.put("/config/app/quoted", '"9"')
    client.put("/config/app/features", '{"fast": true, "limits": [1, 2]}')
    client.put("/config/app/db/pool/size", "10")
    client.put("/config/app/.version", '{"keys": []}')  # reserved: never a setting
    client.put("/config/other/timeout", "1")  # another app
    with client.config("app") as cfg:
        assert dict(cfg) == {
            "timeout": 9,
            "name": "hello",
            "quoted": "9",
            "features": {"fast": True, "limits": [1, 2]},
            "db/pool/size": 10,
        }
        assert list(cfg) == sorted(cfg)
        assert cfg["db/pool/size"] == 10 and cfg["/db/pool/size"] == 10
        assert cfg["features/fast"] is True  # found inside the object stored at "features"
        assert cfg.get("missing", 3) == 3 and "missing" not in cfg
        with pytest.raises(KeyError, match="missing"):
            cfg["missing"]
        assert cfg.get_int("timeout") == 9 and cfg.get_str("quoted") == "9"
        assert cfg.get_int("quoted") == 9 and cfg.get_float("timeout") == 9.0
        with pytest.raises(coordkit.ConfigurationError, match="name: expected an integer"):
            cfg.get_int("name")
        assert cfg.get_int("missing", 7) == 7
        with pytest.raises(coordkit.NotFoundError):
            cfg.get_bool("missing")


def test_get_str_keeps_the_text_as_written_and_get_bool_reads_spellings(client: coordkit.Client) -> None:
    client.put("/config/app/release", "1.10")
    client.put("/config/app/debug", "yes")
    client.put("/config/app/verbose", "0")
    with client.config("app") as cfg:
        assert cfg["release"] == 1.1 and cfg.get_str("release") == "1.10"
        assert cfg.get_bool("debug") is True and cfg.get_bool("verbose") is False
        assert cfg.get_as("release", float) == 1.1


def test_snapshot_is_immutable_and_values_are_copies(client: coordkit.Client) -> None:
    client.put("/config/app/limits", "[1, 2]")
    with client.config("app") as cfg:
        snapshot = cfg.snapshot()
        snapshot["limits"].append(3)
        cfg["limits"].append(4)
        assert snapshot["limits"] == [1, 2] == cfg["limits"]
        with pytest.raises(TypeError):
            snapshot["limits"] = [9]  # type: ignore[index]


def test_read_only_by_default(client: coordkit.Client) -> None:
    with client.config("app") as cfg, pytest.raises(coordkit.ConfigurationError, match="writable=True"):
        cfg.set("timeout", 5)
    assert client.get("/config/app/timeout") is None


def test_bad_keys_are_refused(client: coordkit.Client) -> None:
    with client.config("app", writable=True) as cfg:
        for bad in ("", "a//b", ".version", "a/../b", "x\x00"):
            with pytest.raises(coordkit.InvalidNameError):
                cfg.set(bad, 1)
        with pytest.raises(coordkit.ConfigurationError, match="JSON"):
            cfg.set("when", object())


# --- following changes -----------------------------------------------------------------------
def test_changes_by_another_client_reach_config_and_listeners_in_order(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    with reader.config("app") as cfg, writer.config("app", writable=True) as out:
        changes = Changes()
        cfg.on_change(changes)
        versions = [cfg.version]
        for value in range(1, 6):  # one at a time: each must arrive as its own batch
            out.set("timeout", value)
            batch = changes.next()
            assert values_of(batch) == {"timeout": value}
            assert batch["timeout"].old == (value - 1 if value > 1 else None)
            assert batch.snapshot["timeout"] == value == cfg["timeout"]
            versions.append(batch.version)
        assert versions == sorted(set(versions)), "version did not grow with every change"
        out.delete("timeout")
        gone = changes.next()
        assert gone["timeout"] == (5, None) and gone.kind("timeout") == "removed"
        assert "timeout" not in cfg


def test_rapid_changes_arrive_in_order_ending_with_the_last(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    with reader.config("app") as cfg:
        changes = Changes()
        cfg.on_change(changes)
        for value in range(30):
            writer.put("/config/app/counter", str(value))
        seen: list[int] = []
        while not seen or seen[-1] != 29:
            batch = changes.next()
            old, new = batch["counter"]
            assert old == (seen[-1] if seen else None), "a batch's old value is not the previous new one"
            seen.append(new)
        assert seen == sorted(set(seen))


def test_update_is_seen_whole_by_readers_and_listeners(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    keys = ("a", "b/c", "d/e/f")  # three depths: ZooKeeper reads them level by level
    with reader.config("app") as cfg, writer.config("app", writable=True) as out:
        torn: list[dict[str, object]] = []
        stop = threading.Event()

        def check(snapshot: coordkit.config.ConfigSnapshot) -> None:
            values = {snapshot.get(k) for k in keys}
            if len(values) != 1:
                torn.append(snapshot.to_dict())

        def poll() -> None:
            while not stop.is_set():
                check(cfg.snapshot())
                stop.wait(0.0005)

        changes = Changes()
        cfg.on_change(lambda batch: (check(batch.snapshot), changes(batch)))
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            for round_ in range(1, 21):
                out.update({k: round_ for k in keys})
            assert cfg.wait_until(lambda s: s.get("a") == 20, DEADLINE)
        finally:
            stop.set()
            poller.join()
        assert torn == [], f"a reader saw part of an update: {torn[:3]}"
        batch = changes.next()
        assert set(batch) == set(keys), "one update's keys were split across batches"


@pytest.mark.parametrize("backend_kind", ["memory", "etcd"], indirect=True)
def test_a_foreign_multi_key_transaction_is_seen_whole(make_client: MakeClient) -> None:
    # Documented: guaranteed on etcd and memory (one atomic read), not on ZooKeeper.
    reader, writer = make_client(), make_client()
    with reader.config("app") as cfg:
        changes = Changes()
        cfg.on_change(changes)
        writer.commit([Put("/config/app/x", b"1"), Put("/config/app/y", b"1")])
        assert values_of(changes.next()) == {"x": 1, "y": 1}


def test_listener_keys_filter_and_failing_listener(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = make_client(), make_client()
    with reader.config("app") as cfg, writer.config("app", writable=True) as out:
        everything, db_only = Changes(), Changes()

        def broken(changes: ConfigChanges) -> None:
            raise RuntimeError("listener bug")

        cfg.on_change(broken)
        cfg.on_change(everything)
        cfg.on_change(db_only, keys=["db/"])
        out.set("timeout", 1)
        assert values_of(everything.next()) == {"timeout": 1}
        out.update({"db/host": "h", "timeout": 2})
        assert values_of(everything.next()) == {"db/host": "h", "timeout": 2}
        assert values_of(db_only.next()) == {"db/host": "h"}, "the filter let other keys through"
        assert "listener bug" in caplog.text
        cfg.remove_listener(everything)
        out.set("timeout", 3)
        assert cfg.wait_until(lambda s: s["timeout"] == 3, DEADLINE)
        everything.none_within(0.2)  # removed
        db_only.none_within(0.0)  # not its keys


def test_own_writes_are_visible_when_the_call_returns(client: coordkit.Client) -> None:
    with client.config("app", writable=True) as cfg:
        revision = cfg.set("timeout", 5)
        assert cfg["timeout"] == 5 and cfg.version >= revision
        cfg.update({"a": 1, "b": 2}, delete=["timeout"])
        assert dict(cfg) == {"a": 1, "b": 2}


def test_delete_of_a_key_with_keys_below_it(client: coordkit.Client) -> None:
    with client.config("app", writable=True) as cfg:
        cfg.update({"db": {"name": "main"}, "db/pool/size": 5})
        assert cfg.delete("db") is True
        assert dict(cfg) == {"db/pool/size": 5}
        assert cfg.delete("db") is False
        assert cfg.delete("never") is False


def test_close_stops_listeners(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    cfg = reader.config("app")
    changes = Changes()
    cfg.on_change(changes)
    cfg.close()
    writer.put("/config/app/timeout", "1")
    changes.none_within(0.3)
    assert cfg.stale and "timeout" not in cfg


def test_not_live_reads_once_and_on_refresh(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    with reader.config("app", live=False) as cfg:
        writer.put("/config/app/timeout", "1")
        assert "timeout" not in cfg
        assert cfg.refresh()["timeout"] == 1 == cfg["timeout"]


# --- sessions ----------------------------------------------------------------------------------
def test_a_new_session_resyncs_without_spurious_changes(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    writer.put("/config/app/timeout", "1")
    with reader.config("app") as cfg:
        changes = Changes()
        cfg.on_change(changes)
        generation = reader.session.generation
        reader.expire_session()
        assert reader.session.wait_for(coordkit.SessionState.CONNECTED, DEADLINE)
        assert reader.session.generation == generation + 1
        assert cfg.wait_until(lambda s: not cfg.stale, DEADLINE)
        changes.none_within(0.3)  # nothing changed: nobody is told anything
        writer.put("/config/app/timeout", "2")
        assert values_of(changes.next()) == {"timeout": 2}


@pytest.mark.parametrize("backend_kind", ["memory"], indirect=True)  # real servers: test_config_restart.py
def test_unreachable_memory_store_serves_last_known_and_says_so(make_client: MakeClient) -> None:
    reader, writer = make_client(ttl=30), make_client()
    writer.put("/config/app/timeout", "1")
    with reader.config("app") as cfg:
        changes = Changes()
        cfg.on_change(changes)
        reader.backend.set_reachable(False)  # type: ignore[attr-defined]
        deadline = time.monotonic() + DEADLINE
        while not cfg.stale:
            assert time.monotonic() < deadline, "never said it was stale"
            reader.session.wait_for(coordkit.SessionState.SUSPENDED, 0.05)
        writer.put("/config/app/timeout", "2")
        assert cfg["timeout"] == 1 and cfg.stale
        reader.backend.set_reachable(True)  # type: ignore[attr-defined]
        assert values_of(changes.next()) == {"timeout": 2}
        assert cfg.wait_until(lambda s: not cfg.stale, DEADLINE)


# --- typed views ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pool:
    size: int = 5
    host: str = "localhost"


@dataclass(frozen=True)
class Settings:
    timeout: float = 1.0
    debug: bool = False
    db: Pool = Pool()

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


def test_typed_view_follows_changes_and_keeps_the_last_valid_one(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    writer.put("/config/app/db/size", "8")
    with reader.config("app", schema=Settings) as cfg:
        assert cfg.typed == Settings(db=Pool(size=8)) and cfg.error is None
        assert cfg.source("timeout") == "default" and cfg["timeout"] == 1.0
        errors: queue.SimpleQueue[coordkit.ConfigurationError] = queue.SimpleQueue()
        changes = Changes()
        cfg.on_error(errors.put)
        cfg.on_change(changes)
        writer.put("/config/app/db/size", '"big"')  # another tool, no validation on its side
        batch = changes.next()
        assert batch.error is not None and batch.error.key == "db/size"
        assert cfg["db/size"] == "big", "the raw settings show what the store holds"
        assert cfg.typed == Settings(db=Pool(size=8)), "an invalid change reached the typed view"
        error = errors.get(timeout=DEADLINE)
        assert "db/size" in str(error) and "expected int" in str(error)
        writer.put("/config/app/timeout", "-1")
        assert changes.next().error is not None and cfg.typed.timeout == 1.0
        writer.put("/config/app/db/size", "9")
        writer.put("/config/app/timeout", "2.5")
        assert cfg.wait_until(lambda s: s.get("timeout") == 2.5, DEADLINE)
        assert cfg.typed == Settings(timeout=2.5, db=Pool(size=9)) and cfg.error is None


def test_a_config_that_does_not_fit_the_schema_refuses_to_start(client: coordkit.Client) -> None:
    client.put("/config/app/debug", '"maybe"')
    with pytest.raises(coordkit.ConfigurationError, match="debug: expected bool"):
        client.config("app", schema=Settings)


def test_pydantic_model_as_schema(make_client: MakeClient) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Db(pydantic.BaseModel):
        size: int = 5

    class Model(pydantic.BaseModel):
        timeout: float = 1.0
        db: Db = Db()

    reader, writer = make_client(), make_client()
    with reader.config("app", schema=Model) as cfg, writer.config("app", schema=Model, writable=True) as out:
        assert cfg.typed == Model() and cfg["db/size"] == 5
        with pytest.raises(coordkit.ConfigurationError, match="db/size"):
            out.set("db/size", "many")
        out.set("db/size", 7)
        assert cfg.wait_until(lambda s: s.get("db/size") == 7, DEADLINE)
        assert cfg.typed.db.size == 7


@dataclass(frozen=True)
class Required:
    name: str
    port: int | str = 0


@pytest.mark.parametrize(
    "backend_kind", ["memory"], indirect=True
)  # the messages are the schema's, not the store's
def test_schema_errors_name_the_key_and_what_was_wrong(client: coordkit.Client) -> None:
    with pytest.raises(coordkit.ConfigurationError, match=r"name: is required: nothing is stored") as missing:
        client.config("app", schema=Required)
    assert missing.value.key == "name"  # type: ignore[attr-defined]
    client.put("/config/app/name", "svc")
    client.put("/config/app/port", "[1]")
    with pytest.raises(coordkit.ConfigurationError, match=r"port: expected int or str, got \[1\]"):
        client.config("app", schema=Required)


def test_a_dataclass_schema_without_pydantic_says_what_to_install() -> None:
    # pydantic is in coordkit[schema]: a process without it must hear so at construction, and
    # the getters that need no validator, and function schemas, must still work.
    code = """if True:
        import dataclasses, sys
        sys.modules["pydantic"] = None  # as if it were not installed
        import coordkit

        @dataclasses.dataclass
        class Settings:
            timeout: float = 1.0

        with coordkit.connect("memory://no-pydantic") as client:
            client.put("/config/app/timeout", "5")
            with client.config("app", schema=lambda s: s["timeout"] * 2) as cfg:
                assert cfg.typed == 10 and cfg.get_int("timeout") == 5
            try:
                client.config("app", schema=Settings)
            except coordkit.ConfigurationError as exc:
                print(exc)
    """
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "needs pydantic" in out.stdout and "coordkit[schema]" in out.stdout, out.stdout


# --- layers ---------------------------------------------------------------------------------------
def test_defaults_store_and_environment_layers(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    environ = {"PAYMENTS_RETRIES": "7", "PAYMENTS_DB__POOL_SIZE": "3", "PAYMENTS_MODE": "fast", "OTHER": "x"}
    defaults = {"timeout": 5, "retries": 1, "db/pool_size": 10, "region": "eu"}
    writer.put("/config/payments/timeout", "9")
    writer.put("/config/payments/region", '"us"')
    with reader.config("payments", defaults=defaults, env_prefix="PAYMENTS", environ=environ) as cfg:
        assert dict(cfg) == {"timeout": 9, "retries": 7, "db/pool_size": 3, "region": "us", "mode": "fast"}
        assert {k: cfg.source(k) for k in cfg} == {
            "timeout": "store",
            "retries": "env",
            "db/pool_size": "env",
            "region": "store",
            "mode": "env",
        }
        setting = cfg.explain("retries")
        assert setting.layers == {"default": 1, "env": 7} and setting.text == "7"
        changes = Changes()
        cfg.on_change(changes)
        writer.put("/config/payments/retries", "2")  # shadowed by the environment: no change
        writer.delete("/config/payments/region")
        assert values_of(changes.next()) == {"region": "eu"}, "the default did not come back"
        assert cfg.source("region") == "default" and cfg["retries"] == 7


def test_defaults_from_json_and_yaml_files(client: coordkit.Client, tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "defaults.json").write_text('{"timeout": 5, "db/host": "h"}')
    with client.config("app", defaults=folder / "defaults.json") as cfg:
        assert dict(cfg) == {"timeout": 5, "db/host": "h"} and cfg.source("timeout") == "default"
    pytest.importorskip("yaml")
    (folder / "defaults.yaml").write_text("timeout: 6\nflags:\n  fast: true\n")
    with client.config("app", defaults=str(folder / "defaults.yaml")) as cfg:
        assert cfg["timeout"] == 6 and cfg["flags/fast"] is True
    (folder / "bad.json").write_text("{nope")
    with pytest.raises(coordkit.ConfigurationError, match=re.escape("bad.json is not valid JSON")):
        client.config("app", defaults=folder / "bad.json")
