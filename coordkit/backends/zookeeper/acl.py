"""ZooKeeper credentials and ACLs: what a ``Security`` means to a kazoo client.

- ``user``/``password``: digest authentication (``auth_data=[("digest", "user:pw")]``),
  the scheme kazoo, Curator and zkCli share. ZooKeeper keeps no user list for digest: any
  name and password are accepted at connect, they just name an identity. A wrong password
  is therefore a *different* identity, which shows as PermissionDeniedError on nodes whose
  ACL names the right one (the message says so).
- ACLs on every node coordkit creates (kazoo's ``default_acl``, which creates, ``put``'s
  parents and transactions all use). With a user and no ``acl=``: "creator", only the
  identity that created a node has any right on it, so another identity cannot delete a
  lock holder's node or a registration. "creator+read" lets anyone read (discovery),
  "open" is ZooKeeper's world-writable default, and ``scheme:id:perms`` entries give any
  other ACL (``world:anyone:r``, ``digest:bob:<base64 sha1>:rw``, ``auth::cdrwa``).
- TLS to a ``secureClientPort``: kazoo's ``use_ssl`` with our CA, client certificate and
  host name check.

- ``sasl=DIGEST-MD5`` (or GSSAPI, untested): SASL instead of digest, through kazoo's
  ``sasl_options`` and the ``pure-sasl`` package. The server checks the password (a wrong one
  is AuthenticationError) and the identity in ACLs is ``sasl:<user>``.
"""

from __future__ import annotations

import logging
from typing import Any

from kazoo.protocol.serialization import Auth
from kazoo.security import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Permissions

from ...core.security import Security
from ...errors import ConfigurationError

__all__ = ["describe_identity", "kazoo_options"]


class _HideAuth(logging.Filter):
    """kazoo logs every request it sends at its BLATHER level, the Auth request too, whose
    ``auth`` field is ``user:password``: show the scheme only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, Auth) for a in record.args):
            record.args = tuple(
                f"Auth(scheme={a.scheme!r}, auth=***)" if isinstance(a, Auth) else a for a in record.args
            )
        return True


_HIDE_AUTH = _HideAuth()

_CREATOR = [ACL(Permissions.ALL, Id("auth", ""))]
_PERMS = {
    "r": Permissions.READ,
    "w": Permissions.WRITE,
    "c": Permissions.CREATE,
    "d": Permissions.DELETE,
    "a": Permissions.ADMIN,
}


def _entry(text: str) -> ACL:
    scheme, _, rest = text.partition(":")
    ident, _, perms = rest.rpartition(":")
    mask = 0
    for letter in perms:
        mask |= _PERMS[letter]
    return ACL(mask, Id(scheme, ident))


def default_acl(security: Security) -> list[ACL] | None:
    """The ACL of nodes coordkit creates (None: ZooKeeper's open default)."""
    spec = security.acl if security.acl is not None else ("creator" if security.user else None)
    if spec is None or spec == "open":
        return None if spec is None else list(OPEN_ACL_UNSAFE)
    for_creator = spec in ("creator", "creator+read") or (
        isinstance(spec, tuple) and any(e.startswith("auth:") for e in spec)
    )
    if for_creator and security.user is None:
        raise ConfigurationError(
            f"acl={spec if isinstance(spec, str) else ','.join(spec)!r} gives "
            "rights to the creator's identity, which needs a user: pass user= "
            "and password_file= (or acl='open')"
        )
    if spec == "creator":
        return list(_CREATOR)
    if spec == "creator+read":
        return _CREATOR + list(READ_ACL_UNSAFE)
    return [_entry(text) for text in spec]


def kazoo_options(security: Security) -> dict[str, Any]:
    """Keyword arguments of ``KazooClient`` for ``security``."""
    options: dict[str, Any] = {"default_acl": default_acl(security)}
    logger = logging.getLogger("kazoo.client")  # the logger kazoo's connection writes to
    if _HIDE_AUTH not in logger.filters:
        logger.addFilter(_HIDE_AUTH)
    if security.sasl == "GSSAPI":
        options["sasl_options"] = {
            "mechanism": "GSSAPI",
            "service": "zookeeper",
            **({"principal": security.user} if security.user else {}),
        }
    elif security.sasl is not None:
        options["sasl_options"] = {
            "mechanism": security.sasl,
            "username": security.user,
            "password": security.password,
        }
    elif security.user is not None:
        options["auth_data"] = [("digest", f"{security.user}:{security.password or ''}")]
    tls = security.tls
    if tls is not None:
        options.update(
            use_ssl=True,
            verify_certs=True,
            check_hostname=True,
            ca=tls.ca,
            certfile=tls.cert,
            keyfile=tls.key,
        )
    return options


def describe_identity(security: Security) -> str:
    """Who we are to ZooKeeper, for permission messages."""
    if security.sasl is not None:
        return f"SASL user {security.user!r}"
    if security.user is None:
        return "an unauthenticated client (world:anyone)"
    return (
        f"digest user {security.user!r} (ZooKeeper accepts any digest password: a wrong one is "
        "another identity, refused here)"
    )
