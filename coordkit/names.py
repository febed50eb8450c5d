"""Name validation and the one-to-one mapping between coordkit names and backend keys.

A *name* is what users write: one or more non-empty segments separated by ``/``, with an
optional leading ``/``. It is validated here, at the edge, so that backends never see a
bad one. How a name becomes a key is a property of the backend's layout:

* **etcd** keeps the name exactly as ``etcdctl`` spells it: ``mylock`` and ``/mylock`` are
  two different keys, so ``coordkit lock mylock`` and ``etcdctl lock mylock`` meet.
  A namespace ``/ns`` is prepended as ``/ns/<name>``; inside a namespace the leading
  slash carries no meaning and names come back as ``/<name>``.
* **ZooKeeper** (and the memory backend when asked for it) treats a name as a path from
  the namespace root: ``mylock`` and ``/mylock`` are both ``/mylock``.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import ConfigurationError, InvalidNameError

__all__ = [
    "MAX_COMMIT_OPS",
    "MAX_NAME_BYTES",
    "MAX_VALUE_BYTES",
    "MAX_VERSION",
    "PARENT_MARK",
    "KeyMapper",
    "join",
    "recipe_name",
    "validate_name",
    "validate_path",
    "validate_value",
    "validate_version",
]

MAX_NAME_BYTES = 4096
# Under ZooKeeper's 1 MiB packet limit (jute.maxbuffer, past which it drops the connection) and
# etcd's 1.5 MiB request limit, so that one limit holds on every backend, memory included.
MAX_VALUE_BYTES = 1024 * 1024 - 4096
# The most ops one commit may hold, on every backend: etcd's default --max-txn-ops (128), which
# etcd applies to each of a transaction's lists (compares, success requests, failure requests).
# The etcd backend spends at most one compare and one request per op, except a Check on both
# version and create_revision (two compares), which therefore counts as two.
MAX_COMMIT_OPS = 128
# The largest version or revision a caller may name: etcd counts both in 64 bits (signed).
MAX_VERSION = 2**63 - 1
# The one value no key may hold: ZooKeeper's implicit parents (nodes that exist only for the
# keys below them, which are not keys) carry it. Refused on every backend, for one meaning.
PARENT_MARK = b"\x00coordkit:implicit-parent\x00"
_FORBIDDEN_SEGMENTS = {".", ".."}


def _check_text(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a str, not {type(name).__name__}: {name!r}")
    if not name:
        raise InvalidNameError(f"{what} is empty; give a name such as 'orders/lock'")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidNameError(f"{what} is longer than {MAX_NAME_BYTES} bytes")
    for index, ch in enumerate(name):
        why = _refusal(ord(ch))
        if why:
            raise InvalidNameError(
                f"{what} {name!r} contains {why} ({ch!r}, U+{ord(ch):04X}) at position {index}; "
                "names may hold printable characters of the Basic Multilingual Plane only"
            )
    return name


def _refusal(code: int) -> str:
    """Why a character may not be in a name ("" if it may). The set is ZooKeeper's (which
    refuses these characters only after a round trip, while etcd stores them), so that a
    name means the same on every backend: C0 and C1 controls and DEL, surrogates and the
    private-use area (U+D800-U+F8FF), U+FFF0-U+FFFF (specials, U+FFFE and U+FFFF), and
    everything beyond U+FFFF (ZooKeeper's Java strings hold them as surrogate pairs)."""
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "the control character"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate"
    if 0xE000 <= code <= 0xF8FF:
        return "a private-use character"
    if 0xFFF0 <= code <= 0xFFFF:
        return "a special or non-character"
    if code > 0xFFFF:
        return "a character beyond U+FFFF"
    return ""


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a valid key name, else raise :class:`InvalidNameError`.

    Refused: non-strings, empty names, ``/`` alone, empty segments (``a//b``, ``a/``),
    ``.`` and ``..`` segments, NUL and other control characters (C0, DEL, C1 such as
    U+0085), surrogates, private-use characters, U+FFF0-U+FFFF (U+FFFE included),
    characters beyond U+FFFF, names over 4 KiB.
    """
    text = _check_text(name, what)
    body = text.removeprefix("/")
    if not body:
        raise InvalidNameError(f"{what} '/' names the root, not a key; give a key such as '/app/x'")
    for segment in body.split("/"):
        if not segment:
            raise InvalidNameError(
                f"{what} {text!r} has an empty segment ('//' or a trailing '/'); remove it"
            )
        if segment in _FORBIDDEN_SEGMENTS:
            raise InvalidNameError(
                f"{what} {text!r} contains the segment {segment!r}; relative segments are not allowed"
            )
    return text


def recipe_name(name: object, what: str = "name") -> str:
    """The canonical form of a lock, semaphore, rwlock or election name: validated as by
    :func:`validate_name`, then relative to the namespace root (no leading slash), so that
    ``jobs/nightly`` and ``/jobs/nightly`` are one recipe on every backend. On etcd it is
    the prefix ``etcdctl lock jobs/nightly`` uses; on ZooKeeper, the znode ``/jobs/nightly``.
    Raises :class:`InvalidNameError` for a bad name."""
    return validate_name(name, what).removeprefix("/")


def validate_path(path: object, what: str = "path") -> str:
    """Like :func:`validate_name`, but also accepts ``/`` (the namespace root)."""
    if path == "/":
        return "/"
    if isinstance(path, str) and len(path) > 1 and path.endswith("/"):
        return validate_name(path[:-1], what)  # "ls /a/" means "/a"; "/a//" stays an error
    return validate_name(path, what)


def join(parent: str, *children: str) -> str:
    """Join name segments with single slashes, keeping ``parent``'s leading slash."""
    parts = [parent.rstrip("/")] + [c.strip("/") for c in children]
    return "/".join(parts) if parts[0] else "/" + "/".join(parts[1:])


class KeyMapper(NamedTuple):
    """Maps validated names to backend keys and back.

    ``style`` is ``"etcd"`` (the name is kept as spelled) or ``"path"`` (a name is an
    absolute path). ``namespace`` is ``""`` or an absolute path without a trailing slash.
    """

    style: str
    namespace: str = ""

    def to_key(self, name: str) -> str:
        if self.style == "path" or self.namespace:
            rel = name.lstrip("/")
            return f"{self.namespace}/{rel}" if rel else (self.namespace or "/")
        return name

    def prefix_of(self, path: str) -> str:
        """The key prefix that every key strictly below ``path`` starts with."""
        if path == "/":
            if self.style == "path" or self.namespace:
                return f"{self.namespace}/"
            return ""  # etcd root without namespace: every key, slash or not
        return self.to_key(path).rstrip("/") + "/"

    def to_name(self, key: str) -> str:
        if self.namespace:
            if key != self.namespace and not key.startswith(self.namespace + "/"):
                raise ValueError(f"key {key!r} is outside namespace {self.namespace!r}")
            return key[len(self.namespace) :] or "/"
        return key


def validate_version(version: object, what: str = "version") -> int | None:
    """``version`` if it is None or an int from 1 (versions start at 1) to MAX_VERSION, else
    ConfigurationError. (On ZooKeeper a version 0 would become "any version": it must never
    get through; past 64 bits no store can even be asked.)"""
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise ConfigurationError(
            f"{what} must be an int from 1 to 2**63-1 (a key's first version is 1), not {version!r}"
        )
    return version


def validate_value(value: object, what: str = "value") -> bytes:
    """The value as bytes (str is encoded as UTF-8), refused with ConfigurationError if it is
    another type, a str that UTF-8 cannot encode (a lone surrogate), or larger than
    MAX_VALUE_BYTES."""
    if isinstance(value, str):
        try:  # surrogateescape: a str decoded that way (argv, os.environ) gets its bytes back
            data = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise ConfigurationError(
                f"the {what} contains a lone surrogate {value[exc.start]!r} at position {exc.start}, "
                "which UTF-8 cannot encode; pass bytes, or a str without surrogates"
            ) from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise ConfigurationError(f"a {what} must be bytes or str, not {type(value).__name__}")
    if data == PARENT_MARK:
        raise ConfigurationError(
            f"this {what} is reserved (it marks ZooKeeper's implicit parents); store any other bytes"
        )
    if len(data) > MAX_VALUE_BYTES:
        raise ConfigurationError(
            f"the {what} is {len(data)} bytes; coordkit stores at most {MAX_VALUE_BYTES} bytes per key "
            "(ZooKeeper's packet limit): keep large data elsewhere and store a reference"
        )
    return data
