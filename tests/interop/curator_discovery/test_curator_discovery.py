"""Interop with Apache Curator's ServiceDiscovery (Java, Debian's libcurator-discovery-java).

``CuratorProbe.java`` is compiled at test time against the jars under /usr/share/java. It lists
coordkit's instances through Curator (which must parse coordkit's JSON, extra properties and
all) and registers instances that coordkit's cache must see. Missing Java or Curator fails
the tests with install advice: they are never skipped silently.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import coordkit

DEADLINE = 20.0  # a JVM start and a ZooKeeper connection on a loaded machine
JAR_DIR = Path("/usr/share/java")
# curator-x-discovery and what its classes load: Curator itself, the ZooKeeper client, Jackson
# (Curator's JSON), Guava (Curator's collections), SLF4J with its no-op binding.
JARS = (
    "curator-x-discovery",
    "curator-framework",
    "curator-client",
    "zookeeper",
    "zookeeper-jute",
    "jackson-databind",
    "jackson-core",
    "jackson-annotations",
    "guava",
    "slf4j-api",
    "slf4j-nop",
)
INSTALL = (
    "apt-get install -y libcurator-discovery-java libcurator-recipes-java default-jdk-headless "
    "(or run scripts/install-servers.sh)"
)
PROBE = Path(__file__).with_name("CuratorProbe.java")


@pytest.fixture(scope="module")
def classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The compiled probe's classpath; fails with install advice if anything is missing."""
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    missing += [str(JAR_DIR / f"{jar}.jar") for jar in JARS if not (JAR_DIR / f"{jar}.jar").exists()]
    if missing:
        pytest.fail(f"the Curator interop tests need {', '.join(missing)}: {INSTALL}")
    jars = [str(JAR_DIR / f"{jar}.jar") for jar in JARS]
    out = tmp_path_factory.mktemp("curator-probe")
    done = subprocess.run(
        ["javac", "-d", str(out), "-cp", ":".join(jars), str(PROBE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"javac failed:\n{done.stderr}"
    return ":".join([str(out), *jars])


@pytest.fixture
def zk(zookeeper_server: object) -> Iterator[tuple[coordkit.Client, str]]:
    """A coordkit client in a fresh namespace, and Curator's connect string for the same."""
    namespace = f"/ck-{uuid.uuid4().hex[:12]}"
    endpoints = ",".join(zookeeper_server.endpoints)  # type: ignore[attr-defined]
    with coordkit.connect(f"{zookeeper_server.url}{namespace}") as client:  # type: ignore[attr-defined]
        yield client, f"{endpoints}{namespace}"


def curator_list(classpath: str, connect: str, service: str) -> list[dict]:
    done = subprocess.run(
        ["java", "-cp", classpath, "CuratorProbe", connect, "/services", service, "list"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and lines[-1] == "end", done.stdout
    return [json.loads(line) for line in lines[:-1]]


def test_curator_reads_coordkits_instances(classpath: str, zk: tuple[coordkit.Client, str]) -> None:
    client, connect = zk
    plain = client.register("payment", "10.0.0.7", 8080, id="a", metadata={"zone": "eu-1"}, weight=3)
    secure = client.register(
        "payment", "10.0.0.8", 8080, id="b", ssl_port=8443, uri_spec="{scheme}://{address}:{port}/pay"
    )
    seen = sorted(curator_list(classpath, connect, "payment"), key=lambda i: i["id"])
    assert seen == [
        {
            "name": "payment",
            "id": "a",
            "address": "10.0.0.7",
            "port": 8080,
            "sslPort": None,
            "registrationTimeUTC": plain.instance.registered_at,
            "serviceType": "DYNAMIC",
            "uri": None,
            "enabled": True,
        },
        {
            "name": "payment",
            "id": "b",
            "address": "10.0.0.8",
            "port": 8080,
            "sslPort": 8443,
            "registrationTimeUTC": secure.instance.registered_at,
            "serviceType": "DYNAMIC",
            "uri": "https://10.0.0.8:8080/pay",
            "enabled": True,
        },  # Curator built the URI from coordkit's uriSpec
    ]
    plain.drain("deploy")  # Curator 5 reads a drained instance as not enabled
    assert {i["id"]: i["enabled"] for i in curator_list(classpath, connect, "payment")} == {
        "a": False,
        "b": True,
    }
    plain.deregister()
    assert [i["id"] for i in curator_list(classpath, connect, "payment")] == ["b"]


def test_coordkit_sees_instances_registered_through_curator(
    classpath: str, zk: tuple[coordkit.Client, str]
) -> None:
    client, connect = zk
    client.register("payment", "10.0.0.7", 8080, id="ours")
    with client.discover("payment") as cache:
        java = subprocess.Popen(
            [
                "java",
                "-cp",
                classpath,
                "CuratorProbe",
                connect,
                "/services",
                "payment",
                "register",
                "theirs",
                "10.0.0.9",
                "9090",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert java.stdout is not None and java.stdin is not None
            assert java.stdout.readline().strip() == "registered", java.stderr.read() if java.stderr else ""
            assert cache.wait_for(lambda found: [i.id for i in found] == ["ours", "theirs"], DEADLINE)
            theirs = cache.instances[1]
            assert (theirs.name, theirs.address, theirs.port, theirs.weight, dict(theirs.metadata)) == (
                "payment",
                "10.0.0.9",
                9090,
                1,
                {},
            )
            assert theirs.registered_at > 0 and theirs.uri_spec is not None
            assert [i.id for i in client.instances("payment")] == ["ours", "theirs"]
            java.stdin.close()  # the probe unregisters through Curator
            assert java.stdout.readline().strip() == "unregistered"
            assert cache.wait_for(lambda found: [i.id for i in found] == ["ours"], DEADLINE)
        finally:
            if java.poll() is None:
                java.kill()
            java.wait(DEADLINE)
            for stream in (java.stdin, java.stdout, java.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
