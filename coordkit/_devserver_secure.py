"""``coordkit dev up --secure``: the etcd dev server with TLS, client certificates and a user.

The credentials live in the dev folder (``etcd/credentials``): a private CA, the server's
certificate, and for the user ``coordkit`` a client certificate and a password file (made once
and kept, since etcd's data remembers its users). What to export to use it is printed; the
password itself never is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ._devserver_records import DevServerError
from .testing._process import ServerError
from .testing._secure import SecureEtcdServer, User

__all__ = ["DEV_USER", "connect_environment", "secure_etcd"]

DEV_USER = "coordkit"


def secure_etcd(folder: Path, ports: Mapping[str, int], *, binary: str | None = None,
                fresh: bool = False) -> SecureEtcdServer:
    """The harness object of the secure etcd dev server in ``folder`` (see devserver._harness).
    ``fresh`` makes new certificates (for a launch); else those in the folder are used."""
    try:
        return SecureEtcdServer(binary=binary, keep_data=True, users=[User(DEV_USER)],
                                credentials_dir=folder / "credentials", reuse_credentials=not fresh)
    except ServerError as exc:  # no cryptography package, most likely
        raise DevServerError(f"cannot start a secure etcd: {exc}") from None


def connect_environment(folder: Path, url: str) -> dict[str, str]:
    """The ``COORDKIT_*`` variables that connect to the secure dev server at ``url``."""
    credentials = folder / "credentials"
    return {
        "COORDKIT_URL": url.replace("etcds://", f"etcds://{DEV_USER}@", 1),
        "COORDKIT_CA": str(credentials / "coordkit-test-ca.pem"),
        "COORDKIT_CERT": str(credentials / f"{DEV_USER}.pem"),
        "COORDKIT_KEY": str(credentials / f"{DEV_USER}-key.pem"),
        "COORDKIT_PASSWORD_FILE": str(credentials / f"{DEV_USER}.password"),
    }
