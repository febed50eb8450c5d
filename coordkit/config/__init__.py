"""Live configuration of one application: ``client.config(app)`` returns a :class:`Config`.

Storage
    One key per setting, ``<base>/<app>/<key>`` (base ``/config`` by default), holding the
    value as JSON text: ``etcdctl put /config/payments/timeout 9`` (or a kazoo client writing
    ``b"9"`` to the znode) sets ``timeout`` to the number 9. Plain text that does not start
    like JSON is served as a string (``etcdctl put /config/payments/name hello`` gives
    ``"hello"``), as ``coordkit config set`` reads it. A value that starts with ``{``, ``[`` or
    ``"`` but is not valid JSON (``{bad json``), or is not UTF-8, is never served: readers keep
    the last valid value (else the default, else the key is absent), list the key in
    :attr:`ConfigSnapshot.invalid` and tell :meth:`Config.on_error`. An empty value is no
    setting (ZooKeeper's parent nodes are empty). Nested keys are deeper paths:
    ``cfg["db/pool/size"]`` is ``<base>/<app>/db/pool/size``; a key is also found inside an
    object stored at a shorter key. Keys whose first segment starts with ``.`` are reserved:
    every coordkit change also rewrites ``<base>/<app>/.version``, the change marker.

Consistency
    A config follows the store with a recursive watch. When the events it has not applied
    yet are exactly the next coordkit change (the marker names its keys; all carry its
    revision), it applies them, reading at most the marker and the few keys without an
    event (see :mod:`coordkit.config.incremental`); otherwise, and after a reconnect or a
    :meth:`Config.refresh`, it reads the whole subtree again as one consistent state. So a
    reader (``cfg[...]``, :meth:`Config.snapshot`, listeners, the typed view) never sees part
    of an :meth:`Config.update`: on etcd and memory the full read is one atomic range read,
    on ZooKeeper the marker makes it a sequence lock (see :mod:`coordkit.config.store`). A
    multi-key transaction written by another tool is seen whole on etcd and memory; on
    ZooKeeper only single-key writes by other tools are guaranteed whole. :attr:`Config.version`
    is the store revision (etcd revision, ZooKeeper zxid) at which the state holds.

Listeners
    ``cfg.on_change(callback)`` is called with a :class:`ConfigChanges` (key -> (old, new)
    effective values) once per state read that changed something, in order, on the config's
    own thread, never concurrently. Changes that arrive faster than the config reads are
    folded into one call (old value before, newest value after); the final state always
    arrives. A callback that raises is logged and does not stop the others.

Layers
    Effective value = environment variable (``env_prefix``: ``PAYMENTS_TIMEOUT`` overrides
    ``timeout``, ``PAYMENTS_DB__POOL_SIZE`` overrides ``db/pool_size``; read once at
    construction) over the stored value over the defaults (the ``defaults`` mapping or
    JSON/YAML file, over the schema's own field defaults). :meth:`Config.source` and
    :meth:`Config.explain` tell which layer a value came from.

Unreachable store
    The config keeps serving the last state it read; :attr:`Config.stale` says so (the
    session is SUSPENDED or LOST, or reading failed). When the session is back (the same
    one or a new one) the config reads again, and listeners hear only what really changed.
"""

from typing import TYPE_CHECKING

from ..core.exports import lazy_exports
from ..errors import ConfigValidationError

if TYPE_CHECKING:
    from .diff import ConfigDiff
    from .files import dump_text, file_format, parse_document, read_file
    from .live import Config
    from .snapshot import Change, ConfigChanges, ConfigSnapshot
    from .values import MARKER, Setting, parse_text, parse_value

# Each public name and the module that defines it, imported on first use (see coordkit.core.exports).
_EXPORTS = {
    "Change": ".snapshot",
    "Config": ".live",
    "ConfigChanges": ".snapshot",
    "ConfigDiff": ".diff",
    "ConfigSnapshot": ".snapshot",
    "MARKER": ".values",
    "Setting": ".values",
    "dump_text": ".files",
    "file_format": ".files",
    "parse_document": ".files",
    "parse_text": ".values",
    "parse_value": ".values",
    "read_file": ".files",
}
if not TYPE_CHECKING:  # type checkers read the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "MARKER",
    "Change",
    "Config",
    "ConfigChanges",
    "ConfigDiff",
    "ConfigSnapshot",
    "ConfigValidationError",
    "Setting",
    "dump_text",
    "file_format",
    "parse_document",
    "parse_text",
    "parse_value",
    "read_file",
]
