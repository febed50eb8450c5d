"""coordkit's ZooKeeper locks and elections against the real kazoo and Apache Curator recipes.

kazoo's ``Lock`` runs in-process on its own session. Curator runs in a JVM: the probe
``tests/interop/java/CuratorProbe.java`` is compiled with javac once per test session and
driven one command per line on stdin (see its header). Missing Java or Curator jars fail the
tests with install advice: interoperability is a feature, not an optional extra.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.recipe.lock import Lock as KazooLock

import coordkit
from coordkit.backends.contender_queue import Contender
from coordkit.testing import eventually

DEADLINE = 15.0
PROBE_SOURCE = Path(__file__).parent / "java" / "CuratorProbe.java"
JAR_DIR = Path(os.environ.get("COORDKIT_CURATOR_JARS", "/usr/share/java"))
# Curator 5.4 and what it loads; slf4j-nop keeps the probe's stdout for its answers alone.
JARS = (
    "curator-recipes",
    "curator-framework",
    "curator-client",
    "zookeeper",
    "zookeeper-jute",
    "guava",
    "slf4j-api",
    "slf4j-nop",
)
INSTALL = (
    "install them with `scripts/install-servers.sh` (or `apt-get install -y libcurator-recipes-java "
    "libcurator-discovery-java default-jdk-headless`)"
)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def namespace() -> str:
    return "ck-" + uuid.uuid4().hex[:12]


@pytest.fixture
def client(zookeeper_server: Any, namespace: str) -> Iterator[coordkit.Client]:
    with coordkit.connect(f"{zookeeper_server.url}/{namespace}", ttl=4) as made:
        yield made


@pytest.fixture
def connect(zookeeper_server: Any, namespace: str, client: coordkit.Client) -> str:
    """The ZooKeeper connect string with the test's chroot (which ``client`` created)."""
    return ",".join(zookeeper_server.endpoints) + "/" + namespace


@pytest.fixture
def kz(connect: str) -> Iterator[KazooClient]:
    raw = KazooClient(hosts=connect)
    raw.start(timeout=DEADLINE)
    yield raw
    raw.stop()
    raw.close()


@pytest.fixture(scope="session")
def probe_classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Compile the probe; the classpath that runs it."""
    missing = [f"{JAR_DIR}/{jar}.jar" for jar in JARS if not (JAR_DIR / f"{jar}.jar").is_file()]
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            missing.append(tool)
    if missing:
        pytest.fail(f"the Curator interop tests need {', '.join(missing)}: {INSTALL}", pytrace=False)
    jars = os.pathsep.join(str(JAR_DIR / f"{jar}.jar") for jar in JARS)
    out = tmp_path_factory.mktemp("curator-probe")
    built = subprocess.run(
        ["javac", "-nowarn", "-cp", jars, "-d", str(out), str(PROBE_SOURCE)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if built.returncode != 0:
        pytest.fail(f"javac could not build {PROBE_SOURCE.name}:\n{built.stderr}", pytrace=False)
    return f"{out}{os.pathsep}{jars}"


class Probe:
    """A running CuratorProbe: ``ask`` sends a command; ``expect`` waits for an answer line."""

    def __init__(self, classpath: str, connect: str) -> None:
        self.process = subprocess.Popen(
            [
                "java",
                "-Xmx64m",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-cp",
                classpath,
                "CuratorProbe",
                connect,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._early: list[str] = []  # lines read while waiting for another answer
        threading.Thread(target=self._pump, daemon=True, name="curator-probe-stdout").start()
        self.expect("READY")

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def ask(self, command: str, answer: str | tuple[str, ...] | None = None) -> str:
        """Send ``command``; with ``answer``, wait for the line starting with it (or one of them)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.expect(answer) if answer is not None else ""

    def expect(self, prefix: str | tuple[str, ...], timeout: float = DEADLINE) -> str:
        for line in self._early:
            if line.startswith(prefix):
                self._early.remove(line)
                return line
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"the Curator probe did not answer {prefix!r} within {timeout}s"
                ) from None
            if got is None:
                raise AssertionError(
                    f"the Curator probe exited while we waited for {prefix!r}: {self._stderr()}"
                )
            line = got
            if line.startswith("ERROR"):
                raise AssertionError(f"the Curator probe failed: {line}")
            if line.startswith(prefix):
                return line
            self._early.append(line)

    def _stderr(self) -> str:
        assert self.process.stderr is not None
        self.process.wait(5)
        return self.process.stderr.read()[-2000:]

    def close(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()  # the probe quits at the end of its input
            self.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()  # a probe stuck in a blocking acquire
            self.process.wait(10)


@pytest.fixture
def curator(probe_classpath: str, connect: str) -> Iterator[Probe]:
    probe = Probe(probe_classpath, connect)
    yield probe
    probe.close()


# --- helpers -------------------------------------------------------------------------------


def wait_queue_length(client: coordkit.Client, name: str, length: int) -> list[Contender]:

    def queued() -> list[Contender]:
        contenders, _ = client.backend.queue_list(name, values=True)
        assert len(contenders) == length, f"{len(contenders)} contenders: {contenders}"
        return contenders

    return eventually(queued, timeout=DEADLINE, interval=0.01, message=f"{name} to have {length} contenders")


class Background:
    """Runs a blocking acquire on a thread; ``done`` is set with its result."""

    def __init__(self, acquire: Any) -> None:
        self.result: list[bool] = []
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(acquire,), daemon=True).start()

    def _run(self, acquire: Any) -> None:
        try:
            self.result.append(bool(acquire()))
        finally:
            self.done.set()

    def wait(self) -> bool:
        assert self.done.wait(DEADLINE), "the waiter never got the lock"
        return self.result == [True]


# --- kazoo ---------------------------------------------------------------------------------


def test_coordkit_waits_for_a_kazoo_lock_holder(client: coordkit.Client, kz: KazooClient) -> None:
    holder = KazooLock(kz, "/shared", identifier="kazoo-holder")
    assert holder.acquire(timeout=DEADLINE)
    lock = client.lock("shared", identity="coordkit")
    assert lock.acquire(blocking=False) is False, "coordkit must see kazoo's __lock__ node"
    waiter = Background(lambda: lock.acquire(timeout=DEADLINE))
    queued = wait_queue_length(client, "shared", 2)
    assert [c.value for c in queued] == [b"kazoo-holder", b"coordkit"]
    assert not waiter.done.is_set()
    holder.release()
    assert waiter.wait() and lock.is_held
    assert (lock.token or 0) > queued[0].create_revision
    lock.release()


def test_kazoo_with_extra_lock_patterns_waits_for_coordkit(client: coordkit.Client, kz: KazooClient) -> None:
    lock = client.lock("shared", identity="coordkit")
    assert lock.acquire()
    other = KazooLock(kz, "/shared", identifier="kazoo", extra_lock_patterns=["-lock-"])
    assert other.acquire(blocking=False) is False
    waiter = Background(lambda: other.acquire(timeout=DEADLINE))
    wait_queue_length(client, "shared", 2)
    assert not waiter.done.is_set()
    lock.release()
    assert waiter.wait() and other.is_acquired
    assert client.lock("shared").acquire(blocking=False) is False, "and coordkit respects kazoo back"
    other.release()


def test_kazoo_with_default_patterns_does_not_see_coordkit(client: coordkit.Client, kz: KazooClient) -> None:
    """Documents the known cross-client behaviour: without ``extra_lock_patterns=["-lock-"]``
    kazoo counts only its own ``__lock__`` nodes, so it takes a lock coordkit holds."""
    lock = client.lock("shared")
    assert lock.acquire()
    blind = KazooLock(kz, "/shared")
    assert blind.acquire(blocking=False) is True  # both "hold" it: why the option is required
    assert lock.is_held
    blind.release()
    lock.release()


# --- Apache Curator ------------------------------------------------------------------------


def test_coordkit_waits_for_a_curator_mutex(client: coordkit.Client, curator: Probe) -> None:
    held = curator.ask("lock /res curator-1 -1", "ACQUIRED").split()[1]
    lock = client.lock("res", identity="coordkit")
    assert lock.acquire(blocking=False) is False
    waiter = Background(lambda: lock.acquire(timeout=DEADLINE))
    queued = wait_queue_length(client, "res", 2)
    paths = ["/" + c.key for c in queued]  # coordkit's keys are relative to the root, Curator's paths not
    assert paths == [held, paths[1]]
    assert curator.ask("nodes /res", "NODES").split()[1:] == paths, (
        "Curator orders the queue as coordkit does"
    )
    assert not waiter.done.is_set()
    curator.ask("unlock /res", "RELEASED")
    assert waiter.wait()
    assert curator.ask("leader /res", "LEADER") == "LEADER coordkit"
    lock.release()


def test_curator_mutex_waits_for_coordkit(client: coordkit.Client, curator: Probe) -> None:
    lock = client.lock("res", identity="coordkit-holder")
    assert lock.acquire()
    assert curator.ask("leader /res", "LEADER") == "LEADER coordkit-holder"
    assert curator.ask("lock /res curator 200", ("TIMEOUT", "ACQUIRED")) == "TIMEOUT"
    assert len(client.backend.queue_list("res")[0]) == 1, "Curator's timed-out contender left"
    curator.ask("lock /res curator -1")  # blocks until it gets the lock; answers then
    wait_queue_length(client, "res", 2)
    lock.release()
    node = curator.expect("ACQUIRED").split()[1]
    [head] = wait_queue_length(client, "res", 1)
    assert "/" + head.key == node and head.value == b"curator"
    assert client.lock("res").acquire(blocking=False) is False
    curator.ask("unlock /res", "RELEASED")


def test_election_leaders_agree_with_curator(client: coordkit.Client, curator: Probe) -> None:
    election = client.election("elect")
    assert election.campaign("proposal-a")
    assert curator.ask("leader /elect", "LEADER") == "LEADER proposal-a"
    curator.ask("elect /elect curator-b", "STARTED")
    wait_queue_length(client, "elect", 2)
    election.proclaim("proposal-a2")
    assert curator.ask("leader /elect", "LEADER") == "LEADER proposal-a2"
    election.resign()
    curator.expect("LEADING curator-b")
    leader = election.leader()
    assert leader is not None and leader.proposal == "curator-b"
    assert election.campaign("proposal-c", timeout=0.2) is False, "Curator's leader excludes coordkit"
    curator.ask("resign /elect", "RESIGNED")
    assert election.campaign("proposal-c", timeout=DEADLINE)
    assert curator.ask("leader /elect", "LEADER") == "LEADER proposal-c"
    election.resign()
