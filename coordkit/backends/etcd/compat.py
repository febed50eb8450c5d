"""Import python-etcd3 0.12 under any protobuf from 3.20 on.

etcd3 0.12.0 (its latest release) ships ``etcdrpc/*_pb2.py`` modules generated
before protobuf 4. They build descriptors by hand, which protobuf >= 4 refuses
("Descriptors cannot be created directly"). The usual fixes are both bad for a
library: pinning ``protobuf<4`` breaks neighbours that need protobuf >= 4, and
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python is process-wide and slow.

Each of those modules still embeds its file's serialized descriptor
(``serialized_pb=...``). A ``sys.meta_path`` finder serves exactly the
``etcd3.etcdrpc.*_pb2`` modules from those bytes through
``google.protobuf.internal.builder``, the path today's generated code takes,
without executing the stale originals. The builder exists from protobuf 3.20
on, so 3.20.x takes the same path (and skips the originals' deprecation
warnings); only an older protobuf, which the originals were made for, imports
them unchanged.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    import importlib.abc

__all__ = ["import_etcd3"]

_PREFIX = "etcd3.etcdrpc."
_REQUIREMENT = "pip install 'etcd3==0.12.0' 'protobuf>=3.20' grpcio"
_lock = threading.Lock()
_pool: Any = None  # our own DescriptorPool, see _descriptor_pool()


class _Pb2Source(NamedTuple):
    serialized: bytes
    imports: list[tuple[str, str]]  # (module to import first, name it is bound to)


def _descriptor_pool() -> Any:
    # A private pool: names like "kv.proto" and "rpc.proto" are too generic to
    # risk a duplicate-file clash in the process-wide default pool.
    global _pool
    if _pool is None:
        from google.protobuf import descriptor_pool

        _pool = descriptor_pool.DescriptorPool()
    return _pool


def _serialized_literal(node: ast.expr) -> bytes:
    # Old protoc wrote serialized_pb=_b('...') where _b is str.encode('latin1').
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        node = node.args[0]
    value = ast.literal_eval(node)
    if isinstance(value, str):
        return value.encode("latin1")
    if isinstance(value, bytes):
        return value
    raise ImportError(f"unexpected serialized_pb literal of type {type(value).__name__}")


# The generated module's header: its imports, then ``DESCRIPTOR = _descriptor.FileDescriptor(...)``
# up to the next statement at the margin. rpc_pb2.py is 180 KB, nearly all of it descriptors
# built by hand that are never executed: parsing just the header saves a CLI command tens of ms.
_DESCRIPTOR = re.compile(r"^DESCRIPTOR = _descriptor\.FileDescriptor\(", re.M)
_NEXT_STATEMENT = re.compile(r"^[A-Za-z_]", re.M)


def _header(source: str) -> str:
    found = _DESCRIPTOR.search(source)
    if found is None:
        return source
    after = _NEXT_STATEMENT.search(source, found.end())
    return source if after is None else source[: after.start()]


def _parse_pb2(source: str) -> _Pb2Source | None:
    """Return the descriptor bytes and etcd3 imports of an old-style _pb2 module, or None."""
    try:
        tree = ast.parse(_header(source))
    except SyntaxError:  # a layout the header cut does not fit: read the whole module
        tree = ast.parse(source)
    serialized: bytes | None = None
    imports: list[tuple[str, str]] = []
    for node in tree.body:  # both are top-level statements in every generated module
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("etcd3."):
            imports += [(f"{node.module}.{a.name}", a.asname or a.name) for a in node.names]
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if getattr(call.func, "attr", "") == "FileDescriptor" and serialized is None:
                for kw in call.keywords:
                    if kw.arg == "serialized_pb":
                        serialized = _serialized_literal(kw.value)
    return None if serialized is None else _Pb2Source(serialized, imports)


class _Pb2Finder:
    """A meta path finder and the loader of what it finds (both protocols, duck-typed: on
    Python 3.11 ``importlib.abc`` imports ``importlib.resources``, hence ``tempfile``,
    ``shutil``, ``bz2`` and ``lzma``, some 6 ms of every etcd command's start-up)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        name = fullname[len(_PREFIX) :]
        if not fullname.startswith(_PREFIX) or not name.endswith("_pb2") or "." in name:
            return None
        original = importlib.machinery.PathFinder.find_spec(fullname, path)
        get_source = getattr(original and original.loader, "get_source", None)
        source = get_source(fullname) if get_source else None
        parsed = _parse_pb2(source) if source else None
        if original is None or parsed is None:
            return None  # not old-style (say, a regenerated etcd3): let it import normally
        loader = cast("importlib.abc.Loader", self)
        return importlib.machinery.ModuleSpec(fullname, loader, origin=original.origin, loader_state=parsed)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        from google.protobuf.internal import builder

        parsed: _Pb2Source = module.__spec__.loader_state  # type: ignore[union-attr]
        namespace = module.__dict__
        for dependency, bound_name in parsed.imports:
            # rpc.proto depends on kv.proto and auth.proto: the pool needs them first.
            namespace[bound_name] = importlib.import_module(dependency)
        descriptor = _descriptor_pool().AddSerializedFile(parsed.serialized)
        namespace["DESCRIPTOR"] = descriptor
        builder.BuildMessageAndEnumDescriptors(descriptor, namespace)
        builder.BuildTopDescriptorsAndMessages(descriptor, module.__name__, namespace)


_finder = _Pb2Finder()


def _install_finder() -> None:
    # Kept installed: any later `import etcd3` or reload in this process must work too.
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def _builder_available() -> bool:
    return importlib.util.find_spec("google.protobuf.internal.builder") is not None


def _versions() -> str:
    from importlib import metadata

    found = []
    for dist in ("etcd3", "protobuf", "grpcio"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} not installed")
    return ", ".join(found)


def import_etcd3() -> types.ModuleType:
    """Import and return the ``etcd3`` module, loading its stale protobuf modules if needed."""
    with _lock:
        try:
            if _builder_available():
                _install_finder()
            return importlib.import_module("etcd3")
        except Exception as exc:
            raise ImportError(
                f"coordkit's etcd backend could not import python-etcd3 ({_versions()}): "
                f"{type(exc).__name__}: {exc}. Supported: etcd3 0.12.0 with protobuf >= 3.20 "
                f"and grpcio; install with: {_REQUIREMENT}"
            ) from exc
