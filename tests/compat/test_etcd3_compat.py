"""python-etcd3 0.12 imports through coordkit's shim on the installed protobuf (no server)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

from coordkit.backends.etcd import compat as _etcd3_compat
from coordkit.backends.etcd.compat import import_etcd3

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("etcd3") is None, reason="etcd3 (python-etcd3) is not installed"
)

REPO = Path(__file__).resolve().parents[2]


def test_returns_the_etcd3_module_and_is_idempotent() -> None:
    etcd3 = import_etcd3()
    assert isinstance(etcd3, types.ModuleType) and etcd3.__name__ == "etcd3"
    assert import_etcd3() is etcd3 is sys.modules["etcd3"]
    assert callable(etcd3.client)


@pytest.mark.skipif(not _etcd3_compat._builder_available(), reason="protobuf < 3.20 imports etcd3 unchanged")
def test_pb2_modules_come_from_the_builder_shim() -> None:
    import_etcd3()
    from etcd3.etcdrpc import auth_pb2, kv_pb2, rpc_pb2

    assert _etcd3_compat._finder in sys.meta_path
    for module in (auth_pb2, kv_pb2, rpc_pb2):
        assert module.__spec__.loader is _etcd3_compat._finder
    assert rpc_pb2.kv__pb2 is kv_pb2 and rpc_pb2.auth__pb2 is auth_pb2


def test_names_etcd3_uses_exist() -> None:
    import_etcd3()
    import etcd3.etcdrpc as etcdrpc
    from etcd3.etcdrpc import auth_pb2, kv_pb2

    assert etcdrpc.RangeRequest.ASCEND == 1 and etcdrpc.RangeRequest.DESCEND == 2
    assert etcdrpc.RangeRequest.MOD == 3 and etcdrpc.Compare.CREATE == 1
    assert (etcdrpc.Compare.EQUAL, etcdrpc.Compare.NOT_EQUAL) == (0, 3)
    assert (etcdrpc.NONE, etcdrpc.NOSPACE) == (0, 1)
    assert etcdrpc.AlarmRequest.DEACTIVATE == 2
    assert (kv_pb2.Event.PUT, kv_pb2.Event.DELETE) == (0, 1)
    assert kv_pb2.Event.EventType.Name(1) == "DELETE"
    assert auth_pb2.Permission.READWRITE == 2
    for stub in ("KVStub", "WatchStub", "LeaseStub", "ClusterStub", "MaintenanceStub", "AuthStub"):
        assert hasattr(etcdrpc, stub)
    field = etcdrpc.RangeResponse.DESCRIPTOR.fields_by_name["kvs"]
    assert field.message_type is kv_pb2.KeyValue.DESCRIPTOR


def test_messages_round_trip() -> None:
    import_etcd3()
    import etcd3.etcdrpc as etcdrpc
    from etcd3.etcdrpc import kv_pb2

    txn = etcdrpc.TxnRequest(
        compare=[
            etcdrpc.Compare(
                key=b"k",
                result=etcdrpc.Compare.EQUAL,
                target=etcdrpc.Compare.CREATE,
                create_revision=0,
            )
        ],
        success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"k", value=b"v", lease=7))],
        failure=[etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=b"k"))],
    )
    decoded = etcdrpc.TxnRequest.FromString(txn.SerializeToString())
    assert decoded == txn and decoded.success[0].request_put.lease == 7

    event = kv_pb2.Event(type=kv_pb2.Event.DELETE, kv=kv_pb2.KeyValue(key=b"x", mod_revision=9))
    response = etcdrpc.WatchResponse(watch_id=3, events=[event])
    decoded_response = etcdrpc.WatchResponse.FromString(response.SerializeToString())
    assert decoded_response.events[0].type == kv_pb2.Event.DELETE
    assert decoded_response.events[0].kv.mod_revision == 9


def test_etcd3_wraps_events_and_builds_requests() -> None:
    etcd3 = import_etcd3()
    from etcd3 import events
    from etcd3.etcdrpc import kv_pb2

    wrapped = events.new_event(kv_pb2.Event(type=kv_pb2.Event.PUT, kv=kv_pb2.KeyValue(key=b"a")))
    assert isinstance(wrapped, events.PutEvent) and wrapped.key == b"a"
    compare = etcd3.Transactions().create("a") == 0
    built = compare.build_message()
    assert built.target == etcd3.etcdrpc.Compare.CREATE and built.create_revision == 0


def test_concurrent_first_import_in_a_fresh_process() -> None:
    script = f"""
import sys, threading
sys.path.insert(0, {str(REPO)!r})
from coordkit.backends.etcd import compat as c
results = []
threads = [threading.Thread(target=lambda: results.append(c.import_etcd3())) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert len(results) == 8 and all(r is results[0] for r in results), results
from etcd3.etcdrpc import rpc_pb2
assert rpc_pb2.__spec__.loader is c._finder or not c._builder_available()
r = rpc_pb2.RangeRequest(key=b"a", sort_order=rpc_pb2.RangeRequest.DESCEND)
assert rpc_pb2.RangeRequest.FromString(r.SerializeToString()) == r
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_missing_etcd3_gives_a_clear_import_error() -> None:
    script = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
sys.modules["etcd3"] = None  # makes `import etcd3` fail as if it were not installed
from coordkit.backends.etcd.compat import import_etcd3
try:
    import_etcd3()
except ImportError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "etcd3==0.12.0" in done.stdout and "protobuf" in done.stdout


def test_serialized_literal_forms() -> None:
    import ast

    parse = _etcd3_compat._serialized_literal
    assert parse(ast.parse("_b('\\n\\x08kv.proto')", mode="eval").body) == b"\n\x08kv.proto"
    assert parse(ast.parse("b'\\n\\x08kv.proto'", mode="eval").body) == b"\n\x08kv.proto"
    with pytest.raises(ImportError):
        parse(ast.parse("1", mode="eval").body)


def _full_module_parse(source: str) -> tuple[bytes | None, list[tuple[str, str]]]:
    """What the header cut must find: the walk over the whole module that it replaced."""
    import ast

    serialized: bytes | None = None
    imports: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("etcd3."):
            imports += [(f"{node.module}.{a.name}", a.asname or a.name) for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "FileDescriptor":
            for kw in node.keywords:
                if kw.arg == "serialized_pb" and serialized is None:
                    serialized = _etcd3_compat._serialized_literal(kw.value)
    return serialized, imports


def test_the_header_cut_reads_what_the_whole_module_says() -> None:
    spec = importlib.util.find_spec("etcd3")
    assert spec is not None and spec.origin is not None
    modules = sorted((Path(spec.origin).parent / "etcdrpc").glob("*_pb2.py"))
    assert {m.name for m in modules} >= {"kv_pb2.py", "auth_pb2.py", "rpc_pb2.py"}
    for module in modules:
        source = module.read_text(encoding="utf-8")
        parsed = _etcd3_compat._parse_pb2(source)
        assert parsed is not None, module.name
        assert (parsed.serialized, parsed.imports) == _full_module_parse(source), module.name
        assert len(_etcd3_compat._header(source)) < len(source), module.name
    # A module whose header the cut does not fit is read whole, not misread.
    odd = "from etcd3.x import y\nDESCRIPTOR = _descriptor.FileDescriptor(\nserialized_pb=b'ab')\n"
    parsed = _etcd3_compat._parse_pb2(odd)
    assert parsed is not None and parsed.serialized == b"ab" and parsed.imports == [("etcd3.x.y", "y")]
