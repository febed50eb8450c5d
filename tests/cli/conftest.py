"""Fixtures for the CLI tests: in-process runs with CliRunner on ``memory://`` stores, and
real ``python -m coordkit_cli`` subprocesses against real ZooKeeper and etcd servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest
from cli_helpers import Invoke, RunCli, cli_command, cli_env, make_runner, unique
from click.testing import Result

import coordkit
from coordkit_cli.main import cli


@pytest.fixture
def memory_url() -> str:
    """A fresh in-process store: CliRunner runs the CLI in this process, so it is shared."""
    return f"memory://{unique()}"


@pytest.fixture
def store(memory_url: str) -> Iterator[coordkit.Client]:
    """A client on the test's memory store, to prepare and inspect what the CLI sees."""
    with coordkit.connect(memory_url) as client:
        yield client


@pytest.fixture
def invoke(memory_url: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``coordkit --url <memory_url> ARGS...`` in-process; ``url=None`` leaves --url out."""
    monkeypatch.delenv("COORDKIT_URL", raising=False)

    def run(*args: str, url: str | None = memory_url, input: bytes | str | None = None) -> Result:
        argv = (["--url", url] if url is not None else []) + list(args)
        return make_runner().invoke(cli, argv, input=input, catch_exceptions=False)

    return run


# --- real servers, real processes --------------------------------------------------------
@pytest.fixture
def run_cli() -> RunCli:
    """Run the CLI as a real subprocess (bounded: a hang fails the test, never the run)."""

    def run(*args: str, input: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            cli_command(*args), input=input, capture_output=True, timeout=timeout, env=cli_env(), check=False
        )
        return subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    return run


@pytest.fixture(params=["zookeeper", "etcd"])
def server_url(request: pytest.FixtureRequest) -> str:
    """The shared real server of each kind, with a namespace of the test's own."""
    server = request.getfixturevalue(f"{request.param}_server")
    return f"{server.url}/{unique()}"


def _assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("coordkit: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


@pytest.fixture
def one_line_error() -> Callable[..., None]:
    """``one_line_error(stderr, *fragments)``: exactly one ``coordkit: ...`` line holding
    every fragment, and no traceback (what every user-facing failure looks like)."""
    return _assert_one_line_error


@contextlib.contextmanager
def _processes(
    command: Callable[..., list[str]], env: dict[str, str]
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``start(*args)`` runs ``command(*args)`` with stdout/stderr piped; every process
    started is killed and reaped afterwards, whatever happened."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def cli_process() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``coordkit ARGS...`` in the background (stdout piped); killed after the test."""
    with _processes(cli_command, cli_env()) as start:
        yield start


@pytest.fixture
def etcdctl_process(etcd_server) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:  # type: ignore[no-untyped-def]
    """Start ``etcdctl --endpoints <the shared etcd> ARGS...`` (Debian's etcd-client, which
    scripts/install-servers.sh installs); killed after the test."""
    binary = shutil.which("etcdctl") or "/usr/bin/etcdctl"
    if not os.path.exists(binary):
        pytest.fail("etcdctl is not installed: run scripts/install-servers.sh (apt etcd-client)")
    with _processes(
        lambda *args: [binary, "--endpoints", ",".join(etcd_server.endpoints), *args],
        {**os.environ, "ETCDCTL_API": "3"},
    ) as start:
        yield start
