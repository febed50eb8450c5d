"""Secure local servers for tests: etcd with TLS, client certificates and users; ZooKeeper
with a TLS ``secureClientPort`` (and digest authentication, which ZooKeeper always offers).

Certificates come from a throw-away CA (``coordkit.testing._certs``, needs ``cryptography``);
each user gets a password and a client certificate whose CN is the user's name::

    with SecureEtcdServer(users=[User("alice", prefixes=("/app/",))]) as etcd:
        client = coordkit.connect(etcd.url, **etcd.credentials("alice"))
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordkit.core.security import TLS
from coordkit.testing._certs import STORE_PASSWORD, CertificateAuthority, Issued
from coordkit.testing._etcd import EtcdServer, etcdctl_binary
from coordkit.testing._process import ServerError
from coordkit.testing._registry import HOST
from coordkit.testing._zookeeper import DEFAULT_JVM_ARGS, ZooKeeperServer, four_letter_word

__all__ = ["SecureEtcdServer", "SecureZooKeeperServer", "User"]


@dataclass(frozen=True)
class User:
    """A user of a secure server: on etcd a user with a role granting readwrite on
    ``prefixes`` ("" means every key); ``password`` is generated when not given."""

    name: str
    prefixes: tuple[str, ...] = ("",)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)


class _Credentials:
    """The CA, the server certificate and each user's password file and client certificate.

    In a temporary folder (removed with this object), or in ``folder``, kept: there a user's
    password file, once written, is reused (a server's data remembers its users), and with
    ``reuse`` the certificates already there are used as they are.
    """

    def __init__(
        self, users: Sequence[User], hosts: Sequence[str], *, folder: Path | None = None, reuse: bool = False
    ) -> None:
        if folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="coordkit-secure-"))
            weakref.finalize(self, shutil.rmtree, str(self.folder), True)
        else:
            self.folder = folder
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.users = {user.name: self._remembered(user) for user in users}
        self.ca = str(self.folder / "coordkit-test-ca.pem")
        self.authority: CertificateAuthority | None = None
        self.certs: dict[str, Issued] = {}
        if reuse and Path(self.ca).is_file():
            self.server = self._issued("server")
            self.certs = {name: self._issued(name) for name in self.users}
            return
        self.authority = CertificateAuthority(self.folder)
        self.server = self.authority.issue("server", hosts=tuple(hosts))
        for name in self.users:
            self.certs[name] = self.authority.issue(name, client=True)

    def _issued(self, name: str) -> Issued:
        return Issued(str(self.folder / f"{name}.pem"), str(self.folder / f"{name}-key.pem"), self.ca)

    def _remembered(self, user: User) -> User:
        path = self.folder / f"{user.name}.password"
        if path.is_file():
            return User(user.name, user.prefixes, path.read_text().strip())
        path.write_text(user.password + "\n")
        path.chmod(0o600)
        return user

    def user(self, name: str) -> User:
        try:
            return self.users[name]
        except KeyError:
            raise ServerError(f"no user {name!r} on this server; known: {sorted(self.users)}") from None

    def tls(self, name: str | None) -> TLS:
        if name is None:
            return TLS(ca=self.ca)
        cert = self.certs[self.user(name).name]
        return TLS(ca=self.ca, cert=cert.cert, key=cert.key)

    def password_file(self, name: str) -> str:
        return str(self.folder / f"{self.user(name).name}.password")

    def credentials(self, name: str, *, client_cert: bool = True) -> dict[str, Any]:
        """``connect()`` keywords for ``name``: TLS (with its certificate) and password file."""
        return {
            "tls": self.tls(name if client_cert else None),
            "user": name,
            "password_file": self.password_file(name),
        }


class SecureEtcdServer(EtcdServer):
    """etcd serving only TLS, verifying client certificates (``client_cert_auth``), with
    authentication enabled: a ``root`` user and ``users``, each with its own role.

    ``auth_token_ttl`` is etcd's ``--auth-token-ttl`` (simple tokens, seconds). ``hosts``
    are the names in the server certificate. ``url`` is ``etcds://127.0.0.1:PORT``; get a
    user's ``connect()`` keywords from ``credentials(name)``.
    """

    scheme = "etcds"

    def __init__(
        self,
        *,
        users: Sequence[User] = (User("alice"),),
        auth_token_ttl: int = 300,
        client_cert_auth: bool = True,
        hosts: Sequence[str] = ("127.0.0.1", "localhost"),
        auth: bool = True,
        extra_args: Sequence[str] = (),
        credentials_dir: Path | None = None,
        reuse_credentials: bool = False,
        **options: Any,
    ) -> None:
        self.root = User("root")
        self.secrets = _Credentials(
            [self.root, *users], hosts, folder=credentials_dir, reuse=reuse_credentials
        )
        self.client_cert_auth = client_cert_auth
        self.auth = auth
        self._auth_done_in: Path | None = None
        server = self.secrets.server
        args = [
            f"--cert-file={server.cert}",
            f"--key-file={server.key}",
            "--auth-token=simple",
            f"--auth-token-ttl={auth_token_ttl}",
        ]
        if client_cert_auth:
            args += [f"--trusted-ca-file={server.ca}", "--client-cert-auth"]
        super().__init__(extra_args=[*args, *extra_args], **options)

    @property
    def client_url(self) -> str:
        return f"https://{HOST}:{self.client_port}"

    def credentials(self, name: str, *, client_cert: bool = True) -> dict[str, Any]:
        return self.secrets.credentials(name, client_cert=client_cert)

    def _https(self) -> urllib.request.OpenerDirector:
        context = ssl.create_default_context(cafile=self.secrets.ca)
        context.check_hostname = False  # readiness, not identity: ``hosts`` may not name 127.0.0.1
        root = self.secrets.certs["root"]
        context.load_cert_chain(root.cert, root.key)
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def healthy(self, timeout: float = 1.0) -> bool:
        try:
            with self._https().open(f"{self.client_url}/health", timeout=timeout) as response:
                return b'"true"' in response.read()
        except (OSError, ValueError):
            return False

    def etcdctl(
        self,
        *args: str,
        user: str | None = "root",
        check: bool = True,
        timeout: float = 30,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run etcdctl against this server as ``user`` (its certificate and password).

        The password goes in etcdctl's environment (``ETCDCTL_USER``), never in its arguments,
        which every user of the machine sees in the process list."""
        binary = etcdctl_binary(self.binary)
        if binary is None:
            raise ServerError("etcdctl not found beside etcd nor on PATH")
        cert = self.secrets.certs["root" if user is None else user]
        command = [
            binary,
            f"--endpoints={self.client_url}",
            f"--cacert={self.secrets.ca}",
            f"--cert={cert.cert}",
            f"--key={cert.key}",
            "--dial-timeout=5s",
        ]
        env = {**os.environ, "ETCDCTL_API": "3"}
        env.pop("ETCDCTL_USER", None)
        if user is not None:
            env["ETCDCTL_USER"] = f"{user}:{self.secrets.user(user).password}"
        done = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=timeout, env=env, input=stdin
        )
        if check and done.returncode != 0:
            raise ServerError(f"etcdctl {args[0]} failed: {done.stderr.strip()}")
        return done

    def start(self) -> None:
        super().start()
        if self.auth and self._auth_done_in != self.root_dir:
            self._enable_auth()
            self._auth_done_in = self.root_dir

    def enable_auth(self) -> None:
        """Add the users and their roles and turn authentication on, unless it is on already
        (``start()`` does this on a fresh data folder)."""
        self._enable_auth()

    def _enable_auth(self) -> None:
        if "auth is enabled" in self.etcdctl("auth", "status", user=None, check=False).stdout.lower():
            return
        for user in self.secrets.users.values():
            # --interactive=false: the password is read from stdin, not taken from the arguments
            self.etcdctl(
                "user", "add", user.name, "--interactive=false", user=None, stdin=user.password + "\n"
            )
            if user.name == "root":
                self.etcdctl("user", "grant-role", "root", "root", user=None)
                continue
            self.etcdctl("role", "add", f"{user.name}-role", user=None)
            for prefix in user.prefixes:  # "" with --prefix is every key (range "" to "\\0")
                self.etcdctl(
                    "role",
                    "grant-permission",
                    f"{user.name}-role",
                    "readwrite",
                    "--prefix=true",
                    prefix,
                    user=None,
                )
            self.etcdctl("user", "grant-role", user.name, f"{user.name}-role", user=None)
        self.etcdctl("auth", "enable", user=None)


class SecureZooKeeperServer(ZooKeeperServer):
    """ZooKeeper with a TLS ``secureClientPort`` (client certificates required) beside its
    plain ``clientPort``. ``url`` names the secure port; ``plain_url`` the plain one. Digest
    users need no server set-up: ``credentials(name)`` gives a user's keywords. With ``sasl``
    the users are also SASL DIGEST-MD5 users the server checks (``connect(..., sasl=...)``)."""

    port_names = ("client", "peer", "election", "secure")  # type: ignore[assignment]  # one more

    def __init__(
        self,
        *,
        users: Sequence[User] = (User("alice"),),
        client_auth: str = "need",
        hosts: Sequence[str] = ("127.0.0.1", "localhost"),
        extra_config: Mapping[str, str] | None = None,
        credentials_dir: Path | None = None,
        reuse_credentials: bool = False,
        sasl: bool = False,
        **options: Any,
    ) -> None:
        self.secrets = _Credentials(list(users), hosts, folder=credentials_dir, reuse=reuse_credentials)
        if sasl:  # SASL DIGEST-MD5 users, checked by the server (JAAS DigestLoginModule)
            jaas = self.secrets.folder / "jaas.conf"
            jaas.write_text(
                "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
                + "\n".join(f'  user_{u.name}="{u.password}"' for u in self.secrets.users.values())
                + ";\n};\n"
            )
            jaas.chmod(0o600)
            options["jvm_args"] = (
                *options.get("jvm_args", DEFAULT_JVM_ARGS),
                f"-Djava.security.auth.login.config={jaas}",
            )
            extra_config = {
                "authProvider.1": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
                **(extra_config or {}),
            }
        if self.secrets.authority is not None:  # made now: the stores too
            keystore, truststore = self.secrets.authority.keystore(self.secrets.server)
        else:
            keystore, truststore = (
                str(self.secrets.folder / "server.p12"),
                str(self.secrets.folder / "coordkit-test-trust.p12"),
            )
        config = {
            "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
            "ssl.keyStore.location": keystore,
            "ssl.keyStore.password": STORE_PASSWORD,
            "ssl.keyStore.type": "PKCS12",
            "ssl.trustStore.location": truststore,
            "ssl.trustStore.password": STORE_PASSWORD,
            "ssl.trustStore.type": "PKCS12",
            "ssl.clientAuth": client_auth,
            # Client certificates name users, not hosts: do not match them to the client's address.
            "ssl.hostnameVerification": "false",
            **(extra_config or {}),
        }
        super().__init__(extra_config=config, **options)

    @property
    def secure_port(self) -> int:
        return self._port("secure")

    @property
    def endpoints(self) -> list[str]:
        return [f"{HOST}:{self.secure_port}"]

    @property
    def plain_url(self) -> str:
        return f"zk://{HOST}:{self.client_port}"

    def credentials(self, name: str, *, client_cert: bool = True, tls: bool = True) -> dict[str, Any]:
        found = self.secrets.credentials(name, client_cert=client_cert)
        if not tls:
            del found["tls"]
        return found

    def four_letter_word(self, word: str, timeout: float = 1.0) -> str:
        return four_letter_word(f"{HOST}:{self.client_port}", word, timeout)

    def _write_config(self) -> None:
        self.extra_config["secureClientPort"] = str(self.secure_port)
        self.extra_config["secureClientPortAddress"] = HOST
        super()._write_config()
