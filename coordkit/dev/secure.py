"""``coordkit dev up --secure``: dev servers with TLS and a user.

etcd: TLS only, client certificates verified, authentication on, user ``coordkit``.
ZooKeeper: a TLS ``secureClientPort`` (client certificates required) beside the plain port;
digest users need no server set-up, so ``coordkit`` with its password file works there too.

The credentials live in each server's dev folder (``<kind>/credentials``): a private CA, the
server's certificate and keystores, and for ``coordkit`` a client certificate and a password
file. They are made on the first secure start and kept (etcd's data remembers its users)
until ``coordkit dev down --purge``. What to export is printed; the password never is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import DevServerError
from ..testing._process import ServerError, ServerProcess
from ..testing._secure import SecureEtcdServer, SecureZooKeeperServer, User
from .records import DevServer

__all__ = ["DEV_USER", "connect_environment", "harness", "is_secure", "url_of"]

DEV_USER = "coordkit"


def is_secure(server: DevServer) -> bool:
    """Whether a recorded dev server was started with ``--secure``."""
    return server.url.startswith("etcds://") or "secure" in server.ports


def url_of(kind: str, host: str, ports: Mapping[str, int]) -> str:
    """The recorded URL of a secure dev server (no credentials in it)."""
    return f"etcds://{host}:{ports['client']}" if kind == "etcd" else f"zk://{host}:{ports['secure']}"


def harness(kind: str, folder: Path, *, binary: str | None = None) -> ServerProcess:
    """The harness object of the secure ``kind`` dev server in ``folder`` (see
    servers._harness), making the credentials on first use."""
    credentials = folder / "credentials"
    try:
        if kind == "etcd":
            return SecureEtcdServer(
                binary=binary,
                keep_data=True,
                users=[User(DEV_USER)],
                credentials_dir=credentials,
                reuse_credentials=True,
            )
        return SecureZooKeeperServer(
            keep_data=True, users=[User(DEV_USER)], credentials_dir=credentials, reuse_credentials=True
        )
    except ServerError as exc:  # no cryptography package, most likely
        raise DevServerError(f"cannot start a secure {kind}: {exc}") from None


def connect_environment(server: DevServer) -> dict[str, str]:
    """The ``COORDKIT_*`` variables that connect to the secure dev ``server``."""
    credentials = Path(server.folder) / "credentials"
    scheme, _, rest = server.url.partition("://")
    return {
        "COORDKIT_URL": f"{scheme}://{DEV_USER}@{rest}" + ("?tls=true" if scheme == "zk" else ""),
        "COORDKIT_CA": str(credentials / "coordkit-test-ca.pem"),
        "COORDKIT_CERT": str(credentials / f"{DEV_USER}.pem"),
        "COORDKIT_KEY": str(credentials / f"{DEV_USER}-key.pem"),
        "COORDKIT_PASSWORD_FILE": str(credentials / f"{DEV_USER}.password"),
    }
