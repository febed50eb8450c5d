"""Writing configuration on every backend: compare-and-set, read-modify-write, writer-side
validation, import (load) and export."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import coordkit
from coordkit.config import MARKER, ConfigValidationError, dump_text, read_file

DEADLINE = 10.0
MakeClient = Callable[..., coordkit.Client]


def test_values_are_stored_as_json_text(client: coordkit.Client) -> None:
    with client.config("app", writable=True) as cfg:
        cfg.update(
            {
                "timeout": 5,
                "name": "hello",
                "on": True,
                "none": None,
                "limits": {"rps": 1.5},
                "db/pool/size": 10,
            }
        )
    raw = {e.key: e.value for e in client.tree("/config/app") if e.value}
    assert raw["/config/app/timeout"] == b"5"
    assert raw["/config/app/name"] == b'"hello"'
    assert raw["/config/app/on"] == b"true" and raw["/config/app/none"] == b"null"
    assert json.loads(raw["/config/app/limits"]) == {"rps": 1.5}
    assert raw["/config/app/db/pool/size"] == b"10"
    assert json.loads(raw[f"/config/app/{MARKER}"])["keys"] == sorted(
        ["timeout", "name", "on", "none", "limits", "db/pool/size"]
    )


def test_compare_and_set_on_a_key_version(make_client: MakeClient) -> None:
    one, two = make_client(), make_client()
    with one.config("app", writable=True) as a, two.config("app", writable=True) as b:
        with pytest.raises(coordkit.ConflictError):  # version 3 of an absent key
            a.set("limit", 1, version=3)
        a.set("limit", 1, version=0)  # 0: only if not set yet
        with pytest.raises(coordkit.ConflictError):
            b.set("limit", 9, version=0)
        seen = a.snapshot().key_version("limit")
        assert seen == 1
        b.set("limit", 2)  # somebody else moves first
        with pytest.raises(coordkit.VersionConflictError, match="read the config again"):
            a.set("limit", 3, version=seen)
        with pytest.raises(coordkit.VersionConflictError):
            a.delete("limit", version=seen)
        assert b.refresh()["limit"] == 2
        a.set("limit", 4, version=b.snapshot().key_version("limit"))
        assert a["limit"] == 4


def test_update_expecting_a_snapshot_fails_after_any_other_change(make_client: MakeClient) -> None:
    one, two = make_client(), make_client()
    with one.config("app", writable=True) as a, two.config("app", writable=True) as b:
        a.update({"x": 1, "y": 1})
        base = a.snapshot()
        b.set("z", 1)  # another key, through coordkit: the marker moves
        with pytest.raises(coordkit.ConflictError):
            a.update({"x": 2, "y": 2}, expect=base)
        assert a.refresh().get("x") == 1
        fresh = a.snapshot()
        two.put("/config/app/x", "7")  # another tool writes a key the update writes
        with pytest.raises(coordkit.ConflictError):
            a.update({"x": 2}, expect=fresh)
        a.update({"x": 2}, expect=a.refresh())
        assert a["x"] == 2


def test_modify_retries_read_modify_write_on_conflict(make_client: MakeClient) -> None:
    clients = [make_client(), make_client()]
    configs = [c.config("app", writable=True) for c in clients]
    rounds = 4

    def bump(cfg: coordkit.config.Config) -> None:
        for _ in range(rounds):
            cfg.modify(lambda d: d.update(count=d.get("count", 0) + 1), attempts=50)

    try:
        workers = [threading.Thread(target=bump, args=(cfg,)) for cfg in configs]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert configs[0].refresh()["count"] == rounds * len(configs), "an increment was lost"
    finally:
        for cfg in configs:
            cfg.close()


# --- writer-side validation ------------------------------------------------------------------
@dataclass
class Limits:
    rps: float = 10.0
    burst: int = 20


@dataclass
class Settings:
    timeout: float = 1.0
    mode: str = "safe"
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.limits.burst < self.limits.rps:
            raise ValueError("limits/burst must be at least limits/rps")


def test_validation_refuses_bad_values_before_writing(client: coordkit.Client) -> None:
    with client.config("app", schema=Settings, writable=True) as cfg:
        cfg.set("timeout", 2)
        with pytest.raises(ConfigValidationError, match="timeout: expected float") as refused:
            cfg.set("timeout", "soon")
        assert (refused.value.key, refused.value.app) == ("timeout", "app")
        with pytest.raises(ConfigValidationError, match="limits/burst: expected int"):
            cfg.update({"mode": "fast", "limits/burst": "lots"})
        with pytest.raises(ConfigValidationError, match="at least"):
            cfg.update({"limits/rps": 100})  # each value fits, together they do not
        assert isinstance(refused.value, coordkit.ConfigurationError)
    stored = {e.key.rsplit("/", 1)[-1]: e.text for e in client.tree("/config/app") if e.value}
    assert stored.get("timeout") == "2" and "mode" not in stored and "rps" not in stored, stored


def test_a_config_without_schema_writes_what_it_is_given(make_client: MakeClient) -> None:
    plain, typed = make_client(), make_client()
    with typed.config("app", schema=Settings) as reader:
        with plain.config("app", writable=True) as writer:
            writer.set("timeout", "soon")  # no schema on this writer: nothing refuses it
        assert reader.wait_until(lambda s: s.get("timeout") == "soon", DEADLINE)
        assert reader.typed.timeout == 1.0 and reader.error is not None


# --- import and export --------------------------------------------------------------------------
def test_load_applies_one_atomic_change_and_export_round_trips(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    wanted = {
        "timeout": 5,
        "name": "payments",
        "limits": {"rps": 2.5},
        "db/pool/size": 10,
        "flags": [True, None],
    }
    with reader.config("app") as cfg, writer.config("app", writable=True) as out:
        out.set("stale", 1)
        assert cfg.wait_until(lambda s: "stale" in s, DEADLINE)
        batches: list[dict[str, object]] = []
        cfg.on_change(lambda changes: batches.append(dict(changes)))
        plan = out.load(wanted, dry_run=True)
        assert set(plan.added) == set(wanted) and not plan.removed
        assert out.refresh().stored() == {"stale": 1}, "a dry run wrote something"
        plan = out.load(wanted, prune=True)
        assert plan.removed == {"stale": 1}
        assert out.export() == wanted
        assert cfg.wait_until(lambda s: s.get("timeout") == 5, DEADLINE)
        assert [set(b) for b in batches] == [{*wanted, "stale"}], "the import was not one change"
        assert not out.load(wanted), "loading the same settings again changed something"
        changed = out.load({"timeout": 6})
        assert dict(changed.changed) == {"timeout": (5, 6)} and out.export()["name"] == "payments"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_file_round_trip(client: coordkit.Client, tmp_path: Path, fmt: str) -> None:
    if fmt == "yaml":
        pytest.importorskip("yaml")
    wanted = {
        "timeout": 5,
        "ratio": 0.5,
        "name": "x: y",
        "flag": False,
        "list": [1, "two"],
        "obj": {"a": {"b": None}},
        "deep/key": "v",
        "unicode": "é",
    }
    with client.config("app", writable=True) as cfg:
        cfg.load(wanted)
        path = tmp_path / f"settings.{fmt}"
        path.write_text(dump_text(cfg.export(), fmt), encoding="utf-8")
        assert read_file(path) == wanted
        cfg.load({}, prune=True)
        assert dict(cfg) == {}
        cfg.load(read_file(path))
        assert cfg.export() == wanted
