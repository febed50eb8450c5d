"""Printing for people and for programs.

Results go to stdout, diagnostics to stderr. ``--json`` prints one JSON document per
command, or for streaming commands one compact object per line, each flushed at once so
that a consumer reading the pipe sees every change when it happens.

Values are bytes. In JSON they appear as text when they are UTF-8 (``"encoding": "utf-8"``)
and as base64 otherwise (``"encoding": "base64"``), so any value survives the round trip.

Key names are text, but a key written by another tool need not be UTF-8: the library
returns its bytes as surrogate escapes (``b"\\xff"`` as ``"\\udcff"``), which are not valid
in a JSON document. Such a key is printed with each of those bytes as U+FFFD in ``key``,
plus ``key_base64`` holding its exact bytes; a UTF-8 key has no ``key_base64``. For people,
names and values are shown on one line: control characters escaped (``\\n``), bytes that
are not UTF-8 as ``\\xff``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import click

from coordkit import Entry, EventType, WatchEvent

__all__ = [
    "Output",
    "entry_fields",
    "event_fields",
    "key_fields",
    "preview",
    "printable",
    "value_fields",
    "write_raw",
]

PREVIEW_CHARS = 60
_SURROGATE = re.compile("[\ud800-\udfff]")


class Output:
    """How a command prints: for people, or with ``json`` for programs."""

    __slots__ = ("json",)

    def __init__(self, json: bool = False) -> None:
        self.json = json

    def line(self, text: str = "") -> None:
        """One human line on stdout. click.echo flushes every call, which a watcher
        reading the pipe relies on."""
        click.echo(text)

    def document(self, data: Any) -> None:
        """One JSON document on stdout."""
        click.echo(_valid_utf8(json.dumps(data, indent=2, ensure_ascii=False)))

    def record(self, data: Any) -> None:
        """One JSON object on one line, flushed: the unit of a JSON stream."""
        click.echo(_valid_utf8(json.dumps(data, separators=(",", ":"), ensure_ascii=False)))

    @staticmethod
    def note(text: str) -> None:
        """A diagnostic for the person at the terminal, on stderr."""
        click.echo(f"coordkit: {text}", err=True)


def write_raw(data: bytes) -> None:
    """Bytes to stdout exactly as stored (for values that are not text)."""
    # open_file("-"): Click's binary stdout without the deprecated get_binary_stream (Click 8.5),
    # on every Click version setup.cfg allows; it is not closed, being stdout.
    with click.open_file("-", "wb") as stream:
        stream.write(data)
        stream.flush()


def _valid_utf8(text: str) -> str:
    # The last guard for any text field still holding a surrogate escape: the document stays
    # valid UTF-8 (and printable at all); keys carry their exact bytes in key_base64.
    return _SURROGATE.sub("\ufffd", text)


def _decoded(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def preview(value: bytes, limit: int | None = PREVIEW_CHARS) -> str:
    """A value on one line: text with control characters escaped, cut at ``limit``
    characters; ``""`` when empty; ``<N bytes>`` when it is not UTF-8."""
    text = _decoded(value)
    if text is None:
        return f"<{len(value)} bytes>"
    if not text:
        return '""'
    shown = printable(text)
    if limit is not None and len(shown) > limit:
        return shown[: limit - 1] + "…"
    return shown


def printable(text: str) -> str:
    """``text`` safe to print on one line: control characters escaped as Python writes
    them (``\\n``, ``\\x1b``), a byte that is not UTF-8 (a surrogate escape) as ``\\xff``."""
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if 0xDC80 <= ord(ch) <= 0xDCFF:  # what decoding with "surrogateescape" made of one byte
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return repr(ch)[1:-1]


def _key_bytes(key: str) -> bytes:
    try:
        return key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no byte decoded to
        return key.encode("utf-8", "surrogatepass")


def key_fields(key: str) -> dict[str, str]:
    """``{"key": key}``, and for a key that is not UTF-8 ``key_base64`` too (module docstring)."""
    if _SURROGATE.search(key) is None:
        return {"key": key}
    return {
        "key": _SURROGATE.sub("\ufffd", key),
        "key_base64": base64.b64encode(_key_bytes(key)).decode("ascii"),
    }


def value_fields(value: bytes) -> dict[str, str]:
    text = _decoded(value)
    if text is not None:
        return {"value": text, "encoding": "utf-8"}
    return {"value": base64.b64encode(value).decode("ascii"), "encoding": "base64"}


def entry_fields(entry: Entry) -> dict[str, Any]:
    """Everything about an entry, as ``get --json`` prints it."""
    return {
        **key_fields(entry.key),
        **value_fields(entry.value),
        "version": entry.version,
        "create_revision": entry.create_revision,
        "mod_revision": entry.mod_revision,
        "lease": entry.lease,
        "ephemeral": entry.ephemeral,
    }


def event_fields(event: WatchEvent) -> dict[str, Any]:
    """One change, as ``watch --json`` prints it."""
    data: dict[str, Any] = {"type": event.type.value, **key_fields(event.key), "revision": event.revision}
    if event.type is EventType.PUT and event.entry is not None:
        data.update(value_fields(event.entry.value))
        data.update(
            version=event.entry.version,
            create_revision=event.entry.create_revision,
            mod_revision=event.entry.mod_revision,
            ephemeral=event.entry.ephemeral,
        )
    return data


def event_line(event: WatchEvent) -> str:
    """One change for people: ``PUT /a/b = value`` or ``DELETE /a/b``."""
    key = printable(event.key)
    if event.type is EventType.PUT and event.entry is not None:
        return f"PUT {key} = {preview(event.entry.value, limit=None)}"
    return f"DELETE {key}"
