"""The :class:`Config` object: one application's live settings (see :mod:`coordkit.config`
for how they are stored, kept consistent, layered and served while the store is away)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ..backends import probe as probes
from ..backends.base import Entry
from ..core.durations import wait_seconds
from ..errors import ConfigurationError, ConfigValidationError, OperationTimeoutError
from ..names import join, validate_name, validate_path
from .edits import Edits
from .files import read_file
from .follower import Follower
from .layers import Layers, env_prefix_of
from .schema import Schema
from .snapshot import ConfigChanges, ConfigSnapshot, TypedGetters, changes_between, newly_invalid
from .store import read_subtree
from .values import Setting, flat_mapping, unflatten
from .writer import Writer

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["Config"]

log = logging.getLogger(__name__)
S = TypeVar("S")  # the typed view's type: what the schema builds
Listener = Callable[[ConfigChanges], None]
ErrorListener = Callable[[ConfigValidationError], None]


def _load_defaults(defaults: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    if defaults is None:
        return {}
    if isinstance(defaults, (str, os.PathLike)):
        return read_file(defaults)
    return flat_mapping(defaults, "defaults")


class Config(TypedGetters, Edits, Mapping[str, Any], Generic[S]):
    """The live settings of ``app`` under ``<base>/<app>/`` (see the module docstring).

    Options (keyword-only): ``base`` (default ``/config``); ``defaults`` (a flat mapping of
    key -> JSON value, or the path of a JSON or YAML file of one); ``schema`` (a dataclass,
    a pydantic model or a function) for :attr:`typed` and for refusing bad writes;
    ``env_prefix`` and ``environ`` (default ``os.environ``) for environment overrides;
    ``writable`` (default False: :meth:`set` and friends raise ConfigurationError);
    ``live`` (default True; False reads once, and again on :meth:`refresh` or after a write).

    Construction waits for the first read (retried within the client's timeout) and raises
    BackendUnavailableError if the store does not answer, ConfigValidationError if the
    settings do not fit ``schema``. Close the config (or leave its ``with`` block) to stop
    following; closing the client stops it too.

    While the session is SUSPENDED or LOST, reads serve the last known state (:attr:`stale`
    is True) and writes raise BackendUnavailableError once the client's timeout has passed
    (a write cut off that way may or may not have happened).
    """

    @overload
    def __init__(
        self: Config[None],
        client: Store,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: None = None,
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> None: ...
    @overload
    def __init__(
        self: Config[S],
        client: Store,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: Callable[..., S],
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> None: ...
    def __init__(
        self,
        client: Store,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: Callable[..., Any] | None = None,
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> None:
        self._client = client
        self._app = validate_name(app, "app name").strip("/")
        self._root = join("/" + validate_path(base, "config base").strip("/"), self._app)
        self._schema = None if schema is None else Schema(schema)
        merged = {**(self._schema.defaults() if self._schema else {}), **_load_defaults(defaults)}
        prefix = env_prefix_of(env_prefix)
        source = os.environ if environ is None else environ
        self._layers = Layers(
            merged,
            prefix,
            {k: v for k, v in source.items() if prefix and k.startswith(prefix)},
            frozenset(self._schema.keys() if self._schema else ()),
        )
        self._writer = Writer(client, self._root, self._app, schema=self._schema, defaults=merged)
        self._writable, self._live = writable, live
        self._lock = threading.Lock()
        self._listeners: list[tuple[Listener, tuple[str, ...] | None]] = []
        self._error_listeners: list[ErrorListener] = []
        self._snapshot = ConfigSnapshot(self._app, {})
        self._typed: Any = None
        self._error: ConfigValidationError | None = None
        self._closed = False
        self._follower = Follower(
            client,
            self._root,
            read=lambda: read_subtree(client, self._root),
            apply=self._apply,
            name=self._app,
        )
        self._start()

    def _start(self) -> None:
        if self._live:
            self._follower.start_watch()  # first, so that no change falls between read and watch
        try:
            self._follower.sync()
            if self._error is not None:
                raise self._error
        except BaseException:
            self._follower.close()
            raise
        if self._live:
            self._follower.start()

    # --- life cycle --------------------------------------------------------------------
    def close(self) -> None:
        """Stop following the store. Idempotent; no listener is called after it returns
        (unless it is called from a listener)."""
        self._closed = True
        self._follower.close()

    def __enter__(self) -> Config[S]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " stale" if self.stale else ""
        where = f"{self._app!r} at {self._root}"
        return f"<coordkit.Config {where} version={self.version} settings={len(self)}{state}>"

    # --- reading -----------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._snapshot[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot)

    def __len__(self) -> int:
        return len(self._snapshot)

    def __contains__(self, key: object) -> bool:
        return key in self._snapshot

    @property
    def app(self) -> str:
        return self._app

    @property
    def path(self) -> str:
        """Where the settings live in the store: ``<base>/<app>``."""
        return self._root

    @property
    def version(self) -> int:
        """The store revision at which the current state holds; grows with every change."""
        return self._snapshot.version

    @property
    def stale(self) -> bool:
        """True while the config may be behind the store: the session is SUSPENDED or LOST,
        the last read failed, a read owed after reconnecting has not completed, or the
        config is closed. The last known state is served meanwhile."""
        return self._follower.stale

    @property
    def connected(self) -> bool:
        return self._follower.connected

    @property
    def synced_at(self) -> float:
        """``time.time()`` of the last successful read."""
        return self._follower.synced_at

    def snapshot(self) -> ConfigSnapshot:
        """The current state, immutable and consistent (never half of a change)."""
        return self._snapshot

    def _state(self) -> ConfigSnapshot:
        return self._snapshot

    def source(self, key: str) -> str:
        """``"default"``, ``"store"`` or ``"env"``: where the effective value of ``key`` comes
        from (NotFoundError if there is none)."""
        return self._snapshot.source(key)

    def explain(self, key: str | None = None) -> Setting | dict[str, Setting]:
        """The :class:`Setting` of ``key`` (value, source, every layer's value), or of every
        key when ``key`` is None."""
        return self._snapshot.settings() if key is None else self._snapshot.explain(key)

    @property
    def typed(self) -> S:
        """The schema's typed view of the effective settings (a dataclass or pydantic model
        instance, or what a function schema returns), rebuilt on every change. A change that
        does not fit the schema leaves the last valid view in place (see :attr:`error`).
        ``client.config(app, schema=MySettings)`` is a ``Config[MySettings]``, so this is a
        ``MySettings`` to type-checkers; without a schema it is a ``Config[None]`` and this
        raises ConfigurationError."""
        if self._schema is None:
            raise ConfigurationError(
                f"config {self._app!r} has no schema: pass schema=... to client.config()"
            )
        return self._typed  # type: ignore[no-any-return]

    @property
    def error(self) -> ConfigValidationError | None:
        """Why the current settings do not fit the schema (None when they do)."""
        return self._error

    def export(self) -> dict[str, Any]:
        """The stored settings (no defaults, no environment), as :meth:`load` takes them.
        Raises ConfigValidationError naming the keys whose stored value is not JSON."""
        return self._snapshot.exportable()

    # --- listening ---------------------------------------------------------------------
    def on_change(self, callback: Listener | None = None, *, keys: Iterable[str] | None = None) -> Any:
        """Call ``callback(changes)`` after each change batch (see :class:`ConfigChanges`);
        with ``keys``, only for changes of those keys (``"db/"``: every key below ``db``).
        Usable as a decorator; returns the callback. Inside the callback,
        :meth:`snapshot` is exactly the state after the batch."""
        wanted = None if keys is None else tuple(k.lstrip("/") for k in keys)

        def register(fn: Listener) -> Listener:
            with self._lock:
                self._listeners.append((fn, wanted))
            return fn

        return register if callback is None else register(callback)

    def on_error(self, callback: ErrorListener) -> ErrorListener:
        """Call ``callback(error)`` when a change leaves the settings outside the schema, and
        for each stored value found not to be JSON (``error.key`` names it; the value is kept
        at its last valid state)."""
        with self._lock:
            self._error_listeners.append(callback)
        return callback

    def remove_listener(self, callback: Callable[..., None]) -> None:
        with self._lock:
            self._listeners = [(fn, k) for fn, k in self._listeners if fn is not callback]
            self._error_listeners = [fn for fn in self._error_listeners if fn is not callback]

    def wait_until(self, predicate: Callable[[ConfigSnapshot], bool], timeout: float | None = None) -> bool:
        """Wait until ``predicate(snapshot)`` holds; False if ``timeout`` passed first (None:
        no limit). ConfigurationError if ``timeout`` is not a number of seconds."""
        return self._follower.wait_for(lambda: predicate(self._snapshot), wait_seconds(timeout))

    def refresh(self, timeout: float | None = None) -> ConfigSnapshot:
        """Read the store now and return the state read (a live config asks its thread and
        waits for it; OperationTimeoutError if no read succeeded within ``timeout``,
        default the client's). From a listener it returns the current state."""
        if not self._live:
            self._follower.sync()
        elif not self._follower.on_own_thread():
            ticket = self._follower.request()
            wait = self._client.timeout if timeout is None else timeout
            if not self._follower.wait_for(lambda: self._follower.served(ticket), wait):
                raise OperationTimeoutError(
                    f"config {self._app!r}: no fresh read within {wait:g}s; "
                    f"still serving version {self.version}"
                )
        return self._snapshot

    # --- applying a state read (the follower's thread) ----------------------------------
    def _validate(self, snapshot: ConfigSnapshot) -> tuple[Any, ConfigValidationError | None]:
        if self._schema is None:
            return None, None
        try:
            return self._schema.build(unflatten(snapshot.to_dict())), None
        except ConfigValidationError as exc:
            return None, exc.for_app(self._app)

    def _apply(self, entries: list[Entry], revision: int) -> None:
        previous = self._snapshot
        snapshot = self._layers.snapshot(
            self._app, self._root, entries, max(revision, previous.version), previous
        )
        typed, error = self._validate(snapshot)
        self._snapshot, self._error = snapshot, error
        if error is None:
            self._typed = typed
        invalid = newly_invalid(previous, snapshot)
        self._report_invalid(invalid)
        changed = changes_between(previous, snapshot)
        if (probe := probes.active) is not None:
            rejected = len(invalid) + (error is not None and bool(changed))
            if rejected:
                probe.config_changes("rejected", rejected)
            if changed and error is None:
                probe.config_changes("applied", len(changed))
        if not changed or self._closed:
            return
        changes = ConfigChanges(changed, snapshot, previous, error)
        with self._lock:
            listeners, error_listeners = list(self._listeners), list(self._error_listeners)
        if error is not None:
            log.warning("%s; the typed view keeps its last valid state", error)
            self._notify(error_listeners, error)
        for callback, keys in listeners:
            view = changes if keys is None else changes.only(keys)
            if view:
                self._notify([callback], view)

    def _report_invalid(self, errors: list[ConfigValidationError]) -> None:
        # A bad value changes no effective value, so no change batch would tell of it.
        with self._lock:
            error_listeners = [] if self._closed else list(self._error_listeners)
        for error in errors:
            log.warning("%s; readers keep the last valid value", error)
            self._notify(error_listeners, error)

    def _notify(self, callbacks: list[Callable[[Any], None]], argument: Any) -> None:
        for callback in callbacks:
            try:
                callback(argument)
            except Exception:  # one listener's bug must not silence the others
                log.exception("coordkit config %s: listener %r failed", self._app, callback)
