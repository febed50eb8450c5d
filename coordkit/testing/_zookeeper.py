"""Local ZooKeeper servers: one standalone node or an ensemble, started from the installed jars.

The server class is run directly (``QuorumPeerMain`` with our own ``zoo.cfg``) rather than through
``zkServer.sh``, because Debian's script reads ``/etc/zookeeper/conf`` whatever it is told.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from coordkit.testing._cluster import Cluster
from coordkit.testing._process import ServerError, ServerProcess
from coordkit.testing._registry import HOST

# In classpath order; the first two are the server itself, the rest what 3.8 loads at run time.
_JARS = (
    "zookeeper",
    "zookeeper-jute",
    "slf4j-api",
    "slf4j-simple",
    "netty-handler",
    "netty-common",
    "netty-transport",
    "netty-buffer",
    "netty-resolver",
    "netty-codec",
    "netty-transport-native-epoll",
    "netty-transport-native-unix-common",
    "commons-io",
    "commons-cli",
    "metrics-core",
    "snappy-java",
    "jackson-databind",
    "jackson-core",
    "jackson-annotations",
)
_REQUIRED_JARS = ("zookeeper", "zookeeper-jute", "slf4j-api", "netty-handler", "netty-transport")
_JAR_DIRS = ("/usr/share/java", "/usr/share/zookeeper/lib", "/usr/lib/zookeeper/lib")
_INSTALL_HINT = "install them with `apt-get install zookeeper` or set COORDKIT_ZK_CLASSPATH"

DEFAULT_JVM_ARGS: tuple[str, ...] = (
    "-Xmx256m",
    # Start-up dominates test runs on small machines: a single GC thread and the quick compiler
    # cost little at test loads and save JIT work on start.
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.net.preferIPv4Stack=true",
)


def _find_jar(name: str, dirs: Sequence[Path]) -> Path | None:
    for folder in dirs:
        plain = folder / f"{name}.jar"
        if plain.is_file():
            return plain
        # Distribution tarballs carry only versioned names; the digit keeps "zookeeper-jute-3.8.0"
        # from matching "zookeeper".
        versioned = sorted(folder.glob(f"{name}-[0-9]*.jar"))
        if versioned:
            return versioned[-1]
    return None


def zookeeper_classpath() -> str:
    """The Java classpath for the ZooKeeper server.

    ``COORDKIT_ZK_CLASSPATH`` wins if set; otherwise jars are looked up in ``$ZOOKEEPER_HOME/lib``,
    ``/usr/share/java`` (Debian's ``zookeeper`` package) and similar folders. Raises
    ``ServerError`` naming the missing jars and how to install them.
    """
    explicit = os.environ.get("COORDKIT_ZK_CLASSPATH")
    if explicit:
        return explicit
    dirs = [Path(d) for d in _JAR_DIRS]
    home = os.environ.get("ZOOKEEPER_HOME")
    if home:
        dirs.insert(0, Path(home) / "lib")
    found = {name: _find_jar(name, dirs) for name in _JARS}
    missing = [name for name in _REQUIRED_JARS if found[name] is None]
    if missing:
        where = ", ".join(str(d) for d in dirs)
        raise ServerError(f"ZooKeeper jars {missing} not found in {where}: {_INSTALL_HINT}")
    return os.pathsep.join(str(path) for path in found.values() if path is not None)


def java_binary() -> str:
    """The ``java`` to run: ``COORDKIT_JAVA``, else ``$JAVA_HOME/bin/java``, else PATH."""
    for candidate in (
        os.environ.get("COORDKIT_JAVA"),
        os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else None,
        shutil.which("java"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServerError(
        "no java found: install it with `apt-get install default-jre-headless` or set COORDKIT_JAVA"
    )


def four_letter_word(endpoint: str, word: str, timeout: float = 1.0) -> str:
    """Send a ZooKeeper four-letter command (``srvr``, ``mntr``, ``ruok``...) and return the reply.

    Raises ``OSError`` (including ``TimeoutError``) when the server is down or does not answer in
    ``timeout`` seconds, as a paused server does.
    """
    host, _, port = endpoint.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(word.encode("ascii"))
        chunks: list[bytes] = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


class ZooKeeperServer(ServerProcess):
    """A local ZooKeeper 3.x server on 127.0.0.1 (standalone unless it belongs to an ensemble).

    ``tick_time_ms`` sets ``tickTime``; the session timeouts a client can get are clamped to
    [2, 20] ticks, so the default 500 ms allows 1 s to 10 s. ``extra_config`` adds or overrides
    ``zoo.cfg`` lines. Ready means ``srvr`` reports a ``Mode:``.
    """

    scheme = "zk"
    kind = "zookeeper"
    port_names = ("client", "peer", "election")

    def __init__(
        self,
        *,
        tick_time_ms: int = 500,
        jvm_args: Sequence[str] = DEFAULT_JVM_ARGS,
        extra_config: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        keep_data: bool = False,
        _ensemble: ZooKeeperEnsemble | None = None,
        _myid: int = 1,
    ) -> None:
        super().__init__(start_timeout=start_timeout, stop_timeout=stop_timeout, keep_data=keep_data)
        self.tick_time_ms = tick_time_ms
        self.jvm_args = tuple(jvm_args)
        self.extra_config = dict(extra_config or {})
        self.myid = _myid
        self._ensemble = _ensemble
        # Resolved now so that a missing install fails at construction, before any folder exists.
        self._java, self._classpath = self._runtime()

    def _runtime(self) -> tuple[str, str]:
        """The java to run and the server's classpath; raises ``ServerError`` when missing."""
        return java_binary(), zookeeper_classpath()

    @property
    def session_timeout_range(self) -> tuple[float, float]:
        """The (min, max) session timeout in seconds that this server grants."""
        return 2 * self.tick_time_ms / 1000, 20 * self.tick_time_ms / 1000

    @property
    def config_path(self) -> Path:
        """The ``zoo.cfg`` this server runs with."""
        return self.root_dir / "zoo.cfg"

    def four_letter_word(self, word: str, timeout: float = 1.0) -> str:
        """Send a four-letter command to this server; see the module function of that name."""
        return four_letter_word(self.endpoints[0], word, timeout)

    def mode(self, timeout: float = 1.0) -> str | None:
        """``standalone``, ``leader``, ``follower`` or ``observer`` from ``srvr``.

        None when the server does not serve (down, paused, or an ensemble member without quorum).
        """
        try:
            reply = self.four_letter_word("srvr", timeout)
        except (OSError, ValueError):
            return None
        for line in reply.splitlines():
            if line.startswith("Mode:"):
                return line.partition(":")[2].strip()
        return None

    def _ready(self) -> bool:
        return self.mode(timeout=0.5) is not None

    def _write_config(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        (self.data_dir / "myid").write_text(f"{self.myid}\n")
        config: dict[str, str] = {
            "tickTime": str(self.tick_time_ms),
            "initLimit": "10",
            "syncLimit": "5",
            "dataDir": str(self.data_dir),
            "clientPort": str(self.client_port),
            "clientPortAddress": HOST,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "*",
            # The default of 60 connections per address is easy to reach when every test client
            # comes from 127.0.0.1.
            "maxClientCnxns": "0",
        }
        if self._ensemble is not None:
            for member in self._ensemble.members:
                config[f"server.{member.myid}"] = f"{HOST}:{member._port('peer')}:{member._port('election')}"
        config.update(self.extra_config)
        self.config_path.write_text("".join(f"{key}={value}\n" for key, value in config.items()))

    def _command(self) -> list[str]:
        return [
            self._java,
            *self.jvm_args,
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            self._classpath,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(self.config_path),
        ]


class ZooKeeperEnsemble(Cluster[ZooKeeperServer]):
    """A ZooKeeper ensemble of ``size`` local servers (myid 1..size), ready when all serve.

    Ready means every running member reports ``Mode: leader`` or ``follower``; with a majority
    killed, the rest stop serving until enough come back.
    """

    scheme = "zk"
    kind = "zookeeper"
    _member_type: ClassVar[type[ZooKeeperServer]] = ZooKeeperServer

    def __init__(
        self,
        size: int = 3,
        *,
        tick_time_ms: int = 500,
        jvm_args: Sequence[str] = DEFAULT_JVM_ARGS,
        extra_config: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        keep_data: bool = False,
    ) -> None:
        self.tick_time_ms = tick_time_ms
        self.jvm_args = tuple(jvm_args)
        self.extra_config = dict(extra_config or {})
        super().__init__(size, start_timeout=start_timeout, stop_timeout=stop_timeout, keep_data=keep_data)

    def _new_member(self, index: int) -> ZooKeeperServer:
        return self._member_type(
            tick_time_ms=self.tick_time_ms,
            jvm_args=self.jvm_args,
            extra_config=self.extra_config,
            start_timeout=self.start_timeout,
            stop_timeout=self.stop_timeout,
            keep_data=self.keep_data,
            _ensemble=self,
            _myid=index,
        )

    def _is_leader(self, member: ZooKeeperServer) -> bool:
        return member.mode(timeout=0.5) == "leader"
