"""``coordkit dev up --secure``: etcd with TLS, client certificates and a user; prints how to
connect (never the password), and the printed environment connects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordkit_cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _exports(stdout: str) -> list[dict[str, str]]:
    """One dict of ``export NAME=VALUE`` lines per "# to connect to KIND" block."""
    blocks: list[dict[str, str]] = []
    for line in stdout.splitlines():
        if line.startswith("# to connect to "):
            blocks.append({})
        elif line.strip().startswith("export ") and blocks:
            name, _, value = line.strip()[len("export ") :].partition("=")
            blocks[-1][name] = value
    return blocks


@pytest.mark.etcd  # `coordkit dev up` starts both servers, in processes of its own
@pytest.mark.zookeeper
def test_dev_up_secure_prints_how_to_connect(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COORDKIT_")}
    env["COORDKIT_DEV_DIR"] = str(tmp_path)
    up = _run("dev", "up", "--secure", "--etcd-port", "0", "--zookeeper-port", "0", env=env)
    try:
        assert up.returncode == 0, up.stderr
        etcd, zookeeper = _exports(up.stdout)
        assert etcd["COORDKIT_URL"].startswith("etcds://coordkit@127.0.0.1:")
        assert zookeeper["COORDKIT_URL"].startswith("zk://coordkit@127.0.0.1:")
        secrets = []
        for exports in (etcd, zookeeper):
            secrets.append(Path(exports["COORDKIT_PASSWORD_FILE"]).read_text().strip())
            secrets.append(Path(exports["COORDKIT_KEY"]).read_text().splitlines()[1])
            connected = {**env, **exports}
            put = _run("put", "/dev/x", "1", env=connected)
            got = _run("get", "/dev/x", env=connected)
            assert (put.returncode, got.returncode, got.stdout.strip()) == (0, 0, "1"), (
                put.stderr + got.stderr
            )
        plain = _run(
            "--url", etcd["COORDKIT_URL"].replace("etcds://coordkit@", "etcd://"), "get", "/dev/x", env=env
        )
        assert plain.returncode == 9 and "speaks TLS" in plain.stderr
        again = _run("dev", "up", "--secure", env=env)
        assert again.returncode == 0 and again.stdout.count("already running") == 2
        for done in (up, put, got, plain, again):
            assert not any(secret in done.stdout + done.stderr for secret in secrets)
    finally:
        down = _run("dev", "down", "--purge", env=env)
        assert down.returncode == 0, down.stderr


def test_dev_up_help_mentions_secure() -> None:
    done = _run("dev", "up", "--help", env=dict(os.environ))
    assert "--secure" in done.stdout and "TLS" in done.stdout
