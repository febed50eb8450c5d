"""Credentials for secured clusters: TLS files, user and password, ZooKeeper ACLs.

One way on every surface: keyword arguments of :func:`coordkit.connect` win over the URL
(``etcds://``, ``?tls=true``, ``?ca=&cert=&key=``, ``user@host``, ``?acl=``), which wins
over the environment (``COORDKIT_USER``, ``COORDKIT_PASSWORD``, ``COORDKIT_PASSWORD_FILE``,
``COORDKIT_CA``, ``COORDKIT_CERT``, ``COORDKIT_KEY``). A password never comes from a URL.

The password is held by :class:`Security` only; its ``repr()`` and every error say
``password=***`` at most, never the password or a private key.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigurationError

__all__ = [
    "ACL_PRESETS",
    "SECURITY_OPTIONS",
    "TLS",
    "Security",
    "refuse_password_in_url",
    "resolve_security",
    "split_user",
]

# URL query options handled here rather than by _url's table.
SECURITY_OPTIONS = {
    "tls": "true to talk TLS (implied by etcds://, ca, cert or key)",
    "ca": "CA bundle (PEM) that signs the servers' certificates; default: the system store",
    "cert": "client certificate (PEM) for mutual TLS; needs key",
    "key": "private key (PEM) of the client certificate",
    "acl": "ZooKeeper ACL of created nodes: creator, creator+read (world-readable) or open, "
    "or scheme:id:perms entries",
    "sasl": "ZooKeeper SASL mechanism for the user (DIGEST-MD5; GSSAPI untested); default: digest",
}
SASL_MECHANISMS = ("DIGEST-MD5", "GSSAPI")
# ZooKeeper ACL presets: what `acl=` names. "creator": only the identity that created a node
# may touch it (ZooKeeper's `auth` scheme). "creator+read": the same, and anyone may read
# (discovery). "open": ZooKeeper's default, anyone may do anything.
ACL_PRESETS = ("creator", "creator+read", "open")
# ZooKeeper's ACL schemes (others are refused by the server at the first create, after a round trip).
_ACL_SCHEMES = ("world", "auth", "digest", "ip", "sasl", "x509", "super")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_WHERE_PASSWORD = (
    "put the password in a file and pass password_file= to connect() (or "
    "--password-file, or set COORDKIT_PASSWORD_FILE)"
)

_PORT_FIRST = re.compile(r"\d*([,/?#]|$)")  # what follows host: in a URL without a password

AclSpec = str | Sequence[str] | None


@dataclass(frozen=True)
class TLS:
    """How to talk TLS: ``ca`` is a PEM CA bundle (None: the system store); ``cert`` and
    ``key`` are the client certificate and its private key for mutual TLS (both or neither).
    Paths only: the key's content is read by the transport, never held here."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


class Security:
    """Resolved credentials of one connection, immutable. ``password`` is never shown by
    ``repr`` and cannot be serialised by accident: this is neither a tuple (which ``%``,
    unpacking and ``json.dumps`` would spread) nor a dataclass (``asdict``), only attributes.
    A plain class rather than a dataclass, which costs start-up (CONTRIBUTING.md, "Start-up")."""

    __slots__ = ("acl", "password", "sasl", "tls", "user")

    tls: TLS | None
    user: str | None
    password: str | None
    acl: tuple[str, ...] | str | None  # a preset name or scheme:id:perms entries
    sasl: str | None  # ZooKeeper: a SASL mechanism instead of digest authentication

    def __init__(
        self,
        tls: TLS | None = None,
        user: str | None = None,
        password: str | None = None,
        acl: tuple[str, ...] | str | None = None,
        sasl: str | None = None,
    ) -> None:
        put = object.__setattr__  # past the refusal below, once
        put(self, "tls", tls)
        put(self, "user", user)
        put(self, "password", password)
        put(self, "acl", acl)
        put(self, "sasl", sasl)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Security is immutable: cannot set {name!r}")

    def _fields(self) -> tuple[object, ...]:
        return (self.tls, self.user, self.password, self.acl, self.sasl)

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if isinstance(other, Security) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = "***" if self.password is not None else None
        return (
            f"Security(tls={self.tls!r}, user={self.user!r}, password={shown}, acl={self.acl!r}, "
            f"sasl={self.sasl!r})"
        )

    @property
    def enabled(self) -> bool:
        return self.tls is not None or self.user is not None


def refuse_password_in_url(url: str) -> None:
    """Raise ConfigurationError if ``url`` carries ``user:password@``; the message shows
    the URL with the password masked and says where the password goes instead."""
    _, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, at, _ = authority.rpartition("@")
    if not (sep and at and ":" in userinfo):
        # A password holding '/', '?' or '#' ends the authority early ("alice:pa/ss@h"): then the
        # text before the first '@' is user:password unless it reads as host:port (digits after
        # the ':' up to a ',', '/', '?' or '#'), and later messages would quote a piece of it.
        userinfo, at, _ = rest.partition("@")
        user, colon, after = userinfo.partition(":")
        if not (at and colon and user) or set(user) & set("/?#,[]") or _PORT_FIRST.match(after):
            return
    user = userinfo.split(":", 1)[0]
    masked = url.replace(userinfo + "@", f"{user}:***@", 1)
    raise ConfigurationError(
        f"{masked!r}: a password does not go in the URL, where logs and "
        f"process lists show it; {_WHERE_PASSWORD}"
    )


def split_user(netloc: str) -> tuple[str | None, str]:
    """``alice@h1:2379,h2:2379`` -> ("alice", "h1:2379,h2:2379")."""
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        return None, netloc
    from urllib.parse import unquote

    user = unquote(userinfo)
    if not user:
        raise ConfigurationError("an empty user name before '@' in the URL; write user@host")
    return user, hosts


def _flag(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"option tls={raw!r} must be true or false")


def _readable(what: str, path: object) -> str:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ConfigurationError(f"{what} must be a file path, not {type(path).__name__}")
    text = os.fspath(path)
    if os.path.isdir(text):
        raise ConfigurationError(f"{what} {text!r} is a directory, not a file")
    if not os.path.isfile(text):
        raise ConfigurationError(f"{what} file {text!r} does not exist")
    if not os.access(text, os.R_OK):
        raise ConfigurationError(f"{what} file {text!r} is not readable by this process")
    return text


def _read_password(path: object) -> str:
    name = _readable("password_file", path)
    try:
        with open(name, encoding="utf-8") as handle:
            password = handle.read().rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigurationError(f"password_file {name!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read password_file {name!r}: {exc.strerror}") from None
    if not password:
        raise ConfigurationError(f"password_file {name!r} is empty")
    return password


def _tls(tls: object, files: Mapping[str, object]) -> TLS | None:
    """The TLS settings from ``tls`` (bool, TLS or None) and the ca/cert/key paths."""
    if isinstance(tls, TLS):
        files = {"ca": tls.ca, "cert": tls.cert, "key": tls.key, **{k: v for k, v in files.items() if v}}
        tls = True
    elif tls is not None and not isinstance(tls, (bool, str)):
        raise ConfigurationError(
            f"tls= takes True, False or coordkit.TLS(ca=, cert=, key=), not {type(tls).__name__}"
        )
    given = {name: _readable(name, value) for name, value in files.items() if value}
    wanted = _flag(tls) if tls is not None else bool(given)
    if not wanted:
        if given:
            raise ConfigurationError(f"tls=false but {', '.join(sorted(given))} given; drop one")
        return None
    if ("cert" in given) != ("key" in given):
        have, missing = ("cert", "key") if "cert" in given else ("key", "cert")
        raise ConfigurationError(f"a client {have} needs its {missing} too (mutual TLS takes both)")
    chosen = TLS(given.get("ca"), given.get("cert"), given.get("key"))
    _loadable(chosen)
    return chosen


def _no_passphrase() -> bytes:
    raise ConfigurationError(
        "the client key file is encrypted: give an unencrypted PEM key "
        "(neither gRPC nor kazoo takes a passphrase)"
    )


def _loadable(tls: TLS) -> None:
    """Raise ConfigurationError unless ``tls``'s files load as a CA bundle, a certificate and
    its key: else the connection failed at the handshake, reported as the server refusing
    the certificate, whatever was wrong with the local files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca:
        try:
            context.load_verify_locations(cafile=tls.ca)
        except ssl.SSLError:
            raise ConfigurationError(f"ca file {tls.ca!r} holds no PEM certificate") from None
    if tls.cert and tls.key:
        try:
            context.load_cert_chain(tls.cert, tls.key, password=_no_passphrase)
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc).upper():
                raise ConfigurationError(
                    f"key file {tls.key!r} is not the private key of the certificate {tls.cert!r}"
                ) from None
            raise ConfigurationError(
                f"cert {tls.cert!r} and key {tls.key!r} must be PEM files: a "
                "certificate and its unencrypted private key"
            ) from None


def _acl(spec: object) -> tuple[str, ...] | str | None:
    if spec is None or spec == "":
        return None
    if isinstance(spec, str) and spec in ACL_PRESETS:
        return spec
    entries = [spec] if isinstance(spec, str) else list(spec)  # type: ignore[call-overload]
    for entry in entries:
        scheme, _, rest = str(entry).partition(":")
        ident, _, perms = rest.rpartition(":")
        no_id = scheme not in ("auth", "world") and not ident
        if (
            scheme not in _ACL_SCHEMES
            or not perms
            or set(perms) - set("crwda")
            or no_id
            or (scheme == "digest" and ":" not in ident)
        ):
            raise ConfigurationError(
                f"acl entry {entry!r} is not scheme:id:perms with a scheme of {', '.join(_ACL_SCHEMES)} "
                "(e.g. world:anyone:r, auth::cdrwa, digest:bob:<hash>:crdwa) "
                f"nor one of {', '.join(ACL_PRESETS)}"
            )
    return tuple(str(entry) for entry in entries)


def resolve_security(
    *,
    in_process: bool,
    acl: bool,
    tls_scheme: bool,
    url_user: str | None,
    query: Mapping[str, object],
    keywords: Mapping[str, object],
    env: Mapping[str, str] | None = None,
) -> Security:
    """Credentials from keywords, then the URL, then the environment (see the module doc).

    ``in_process``: the store has no servers (memory://), so nothing may be given; ``acl``:
    ZooKeeper's ACLs and SASL apply; ``tls_scheme``: the URL's scheme asks for TLS (etcds://).

    Raises ConfigurationError naming the option at fault (a missing file, a password without
    a user, a certificate without its key...); never includes the password itself.
    """
    env = os.environ if env is None else env
    given = {k: v for k, v in keywords.items() if v is not None}
    if in_process:
        named = sorted(k for k in given if k != "acl") + sorted(query) + (["user@"] if url_user else [])
        if named or tls_scheme:
            raise ConfigurationError(f"memory:// has no TLS or authentication; drop {', '.join(named)}")
        return Security()
    if not acl and ("acl" in query or "acl" in given):
        raise ConfigurationError("acl= is a ZooKeeper option; on etcd, rights come from the user's roles")
    sasl = _sasl(acl, given.get("sasl", query.get("sasl")))

    def pick(name: str) -> object:
        for source in (given, query):
            if source.get(name) not in (None, ""):
                return source[name]
        return env.get(f"COORDKIT_{name.upper()}") or None

    tls_given = given.get("tls", query.get("tls", True if tls_scheme else None))
    tls = _tls(tls_given, {name: pick(name) for name in ("ca", "cert", "key")})
    if given.get("user") == "":
        raise ConfigurationError("user= is empty: give the user name, or drop user= and the password")
    user = _user(given.get("user") or url_user or env.get("COORDKIT_USER") or None)
    password = _password(given, env)
    if password is not None and user is None:
        raise ConfigurationError(
            "a password was given without a user: pass user= (or user@host in the URL, --user, COORDKIT_USER)"
        )
    if user is not None and password is None and sasl != "GSSAPI":
        raise ConfigurationError(f"user {user!r} has no password: {_WHERE_PASSWORD}")
    return Security(
        tls=tls, user=user, password=password, acl=_acl(given.get("acl", query.get("acl"))), sasl=sasl
    )


def _user(user: object) -> str | None:
    """``user`` checked: a ':' would split a ZooKeeper digest ``user:password`` elsewhere than
    meant (user "a:b" with password "pw" authenticates as "a" with password "b:pw")."""
    if user is None:
        return None
    if not isinstance(user, str):
        raise ConfigurationError(f"user= must be a str, not {type(user).__name__}")
    if ":" in user or not user.isprintable() or user.strip() != user:
        raise ConfigurationError(
            f"user name {user!r} has a ':', a control character or spaces at an "
            "end, which no backend takes the same way: use a plain name"
        )
    return user


def _sasl(acl: bool, raw: object) -> str | None:
    if raw in (None, ""):
        return None
    mechanism = str(raw).upper()
    if not acl:
        raise ConfigurationError(
            "sasl= is a ZooKeeper option; etcd authenticates users by password or certificate"
        )
    if mechanism not in SASL_MECHANISMS:
        raise ConfigurationError(f"sasl={raw!r} is not one of {', '.join(SASL_MECHANISMS)}")
    import importlib.util

    if importlib.util.find_spec("puresasl") is None:
        raise ConfigurationError("ZooKeeper SASL needs the pure-sasl package: pip install 'coordkit[sasl]'")
    return mechanism


def _password(given: Mapping[str, object], env: Mapping[str, str]) -> str | None:
    """The password from password=, password_file=, $COORDKIT_PASSWORD or its _FILE, in that order."""
    if "password" in given and "password_file" in given:
        raise ConfigurationError("give password= or password_file=, not both")
    if "password" in given:
        password = given["password"]
        if not isinstance(password, str):  # str(b"pw") would be the password "b'pw'"
            raise ConfigurationError(f"password= must be a str, not {type(password).__name__}")
        if not password:
            raise ConfigurationError(
                "password= is empty: give the password (an empty password file is refused the same way)"
            )
        return password
    if "password_file" in given:
        return _read_password(given["password_file"])
    if env.get("COORDKIT_PASSWORD"):
        return env["COORDKIT_PASSWORD"]
    if env.get("COORDKIT_PASSWORD_FILE"):
        return _read_password(env["COORDKIT_PASSWORD_FILE"])
    return None
