"""Parsing of coordkit URLs and connection options.

``zk://h1:2181,h2:2181/namespace?ttl=10&timeout=5`` (also ``zookeeper://``),
``etcd://h1:2379/namespace``, ``memory://[store][/namespace]``. TLS and credentials:
``etcds://alice@h1:2379?ca=/ca.pem&cert=/me.pem&key=/me-key.pem`` (see ``security``).
Which schemes exist and what each backend takes is :mod:`coordkit.core.schemes`; without a
URL, :func:`default_url` asks ``$COORDKIT_URL``, then the installed URL providers.
"""

from __future__ import annotations

import math
import os
import re
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote

from ..errors import ConfigurationError
from ..names import validate_name
from .durations import positive_seconds
from .schemes import SCHEMES, Scheme
from .security import SECURITY_OPTIONS, Security, refuse_password_in_url, resolve_security, split_user

__all__ = ["OPTION_DOCS", "URL_PROVIDERS", "Target", "default_url", "parse_url"]

# The entry-point group of the URL providers asked when no URL is given: each names a function
# returning a URL or None (coordkit's own: the running `coordkit dev` server, in coordkit.dev).
URL_PROVIDERS = "coordkit.url_providers"
OPTION_DOCS = {
    "ttl": "session TTL in seconds (default 10): how long the servers keep the session's "
    "ephemeral keys after the client goes silent",
    "timeout": "per-operation timeout in seconds (default 5)",
    "connect_timeout": "how long connect() waits for the first session (default: timeout)",
    "margin": "seconds taken off the TTL for the ownership deadline (default 0.1 + 2% of the ttl; "
    "less than half the ttl)",
    **SECURITY_OPTIONS,
}
_DEFAULTS = {"ttl": 10.0, "timeout": 5.0}
_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$")


class Target(NamedTuple):
    """A parsed URL: which backend, where, which namespace, with which options."""

    kind: str
    endpoints: tuple[str, ...]
    namespace: str
    ttl: float
    timeout: float
    connect_timeout: float
    url: str
    margin: float | None = None  # None: the session's default margin
    security: Security = Security()


MAX_OPERATION_SECONDS = 86400.0  # the longest timeout or connect_timeout accepted


def _margin(raw: object) -> float:
    """The ownership margin: a number of seconds >= 0 (checked against the ttl later)."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"option margin={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"option margin={raw!r} must be a number of seconds >= 0")
    return value


def _endpoints(kind: str, default_port: int, netloc: str, url: str) -> tuple[str, ...]:
    if not netloc:
        raise ConfigurationError(f"{url!r} names no server; write e.g. {kind}://127.0.0.1:{default_port}")
    found = []
    for part in netloc.split(","):
        match = _HOST.match(part.strip())
        if not match:
            raise ConfigurationError(f"{url!r}: {part!r} is not host or host:port")
        port = int(match.group(2) or default_port)
        if not 0 < port < 65536:
            raise ConfigurationError(f"{url!r}: port {port} is out of range 1-65535")
        found.append(f"{match.group(1)}:{port}")
    return tuple(found)


def _namespace(path: str, url: str) -> str:
    path = unquote(path)
    if path in ("", "/"):
        return ""
    try:
        validate_name(path, "namespace")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{url!r}: {exc}") from None
    return "/" + path.strip("/")


def _checked(scheme: Scheme, name: str, raw: object) -> float:
    """One option's value, checked whatever layer (query or keyword) it came from."""
    if name == "margin":
        return _margin(raw)
    value = positive_seconds(raw, f"option {name}")
    if name != "ttl" and value > MAX_OPERATION_SECONDS:
        # Past the deadlines gRPC and kazoo can hold, which then expire at once or overflow.
        raise ConfigurationError(
            f"option {name}={value:g} is over {MAX_OPERATION_SECONDS:g} seconds "
            "(a day); give a timeout for one operation, not for ever"
        )
    if name == "ttl" and not scheme.in_process and not 1 <= value <= 3600:
        raise ConfigurationError(
            f"option ttl={value:g} is outside 1-3600 seconds; {scheme.kind} sessions need at least a second "
            "(ZooKeeper also clamps to 2-20 ticks, etcd to its minimum lease TTL)"
        )
    return value


def _options(
    scheme: Scheme, url: str, query: list[tuple[str, str]], overrides: dict[str, object]
) -> tuple[float, float, float, float | None]:
    """``(ttl, timeout, connect_timeout, margin)`` from the URL's query, then the keywords over it.

    Every query option is validated even when a keyword overrides it: a typo in a URL is an
    error whatever else is passed, never silently ignored. Raises ConfigurationError.
    """
    known = ", ".join(sorted(OPTION_DOCS))
    names = [name for name, _ in query]
    unknown = sorted((set(names) | set(overrides)) - set(OPTION_DOCS))
    if unknown:
        raise ConfigurationError(f"unknown option(s) {', '.join(unknown)} in {url!r}; known: {known}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigurationError(f"option(s) {', '.join(twice)} given twice in {url!r}; give each once")
    try:
        merged = {name: _checked(scheme, name, raw) for name, raw in query}
    except ConfigurationError as exc:
        raise ConfigurationError(f"{url!r}: {exc}") from None
    merged.update({name: _checked(scheme, name, raw) for name, raw in overrides.items()})
    timeout = merged.get("timeout", _DEFAULTS["timeout"])
    ttl, margin = merged.get("ttl", _DEFAULTS["ttl"]), merged.get("margin")
    if margin is not None and margin >= ttl / 2:
        raise ConfigurationError(f"option margin={margin:g} must be less than half the ttl ({ttl:g}s)")
    return ttl, timeout, merged.get("connect_timeout", timeout), margin


def default_url() -> str:
    """``$COORDKIT_URL``, else the first URL an installed provider offers (the entry points of
    :data:`URL_PROVIDERS`; coordkit's own finds a running ``coordkit dev`` server and logs it).

    Raises ConfigurationError when neither gives one, saying how to give one.
    """
    url = os.environ.get("COORDKIT_URL")
    if url:
        return url
    # Loaded only by a call without any URL: the providers may be slow (a dev server's health
    # check), and importlib.metadata itself costs a CLI command a tenth of its start-up.
    from importlib.metadata import entry_points

    for provider in entry_points(group=URL_PROVIDERS):
        url = provider.load()()
        if url:
            return str(url)
    raise ConfigurationError(
        "no coordkit URL: pass one to connect() (e.g. 'etcd://127.0.0.1:2379', 'zk://127.0.0.1:2181', "
        "'memory://'), set COORDKIT_URL, or start a local dev server with `coordkit dev up`"
    )


def parse_url(
    url: str | None, options: dict[str, object], security: dict[str, object] | None = None
) -> Target:
    """Parse ``url`` (None: :func:`default_url`) and ``options``; ``security`` holds connect()'s
    credential keywords (see :func:`coordkit.core.security.resolve_security`).

    Raises ConfigurationError naming what is wrong (a password in the URL included).
    """
    if url is None:
        url = default_url()
    if not isinstance(url, str):
        raise ConfigurationError(f"the URL must be a str, not {type(url).__name__}")
    refuse_password_in_url(url)  # first: every later message quotes the URL
    scheme_name, sep, rest = url.partition("://")
    scheme = SCHEMES.get(scheme_name.lower())
    if not sep or scheme is None:
        raise ConfigurationError(
            f"{url!r} is not a coordkit URL; it must start with {', '.join(f'{name}://' for name in SCHEMES)}"
        )
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    url_user, netloc = (None, netloc) if scheme.in_process else split_user(netloc)
    pairs = parse_qsl(query, keep_blank_values=True)
    secure_query = {name: value for name, value in pairs if name in SECURITY_OPTIONS}
    plain = [(name, value) for name, value in pairs if name not in SECURITY_OPTIONS]
    ttl, timeout, connect_timeout, margin = _options(scheme, url, plain, options)
    if scheme.default_port is None:  # in this process: the "host" names the store
        endpoints: tuple[str, ...] = (unquote(netloc),)
    else:
        endpoints = _endpoints(scheme.kind, scheme.default_port, netloc, url)
    secured = resolve_security(
        in_process=scheme.in_process,
        acl=scheme.acl,
        tls_scheme=scheme.tls,
        url_user=url_user,
        query=secure_query,
        keywords=security or {},
    )
    return Target(
        scheme.kind,
        endpoints,
        _namespace(path, url),
        ttl,
        timeout,
        connect_timeout,
        url,
        margin=margin,
        security=secured,
    )
