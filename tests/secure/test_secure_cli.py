"""The CLI on secured clusters: --user --password-file --ca --cert --key (never a password
argument), one line per wrong credential with its own exit code, no secret in any output."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

EXIT_AUTH, EXIT_TLS, EXIT_PERMISSION = 8, 9, 10


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(no_secret_in: Callable[[str], None]) -> Run:
    """``run(*ARGS, env=)``: ``coordkit ARGS`` in a process of its own, with debug logging on
    (the most it prints); fails if a secret appears in what it printed."""

    def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = _run(*args, env=env)
        no_secret_in(done.stdout + done.stderr)
        return done

    return run_cli


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COORDKIT_")}
    environment.update(
        COORDKIT_DEBUG="1", COORDKIT_DEV_DIR=os.environ.get("COORDKIT_DEV_DIR", ""), **(env or {})
    )
    done = subprocess.run(
        [sys.executable, "-m", "coordkit_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    return done


def flags(server: Any, user: str, *, cert: bool = True, password_file: str | None = None) -> list[str]:
    creds = server.credentials(user, client_cert=cert)
    tls = creds["tls"]
    found = [
        "--url",
        f"{server.url}/ck-{uuid.uuid4().hex[:8]}",
        "--user",
        user,
        "--password-file",
        password_file or creds["password_file"],
        "--ca",
        tls.ca,
    ]
    if cert:
        found += ["--cert", tls.cert, "--key", tls.key]
    return found


def test_there_is_no_password_argument(run: Run) -> None:
    done = run("--password", "hunter2", "get", "/x")
    assert done.returncode == 2 and "No such option '--password'" in done.stderr


def test_put_get_status_with_credentials(run: Run, secure_server: Any) -> None:
    base = flags(secure_server, "alice")
    assert run(*base, "put", "/app/x", "1").returncode == 0
    got = run(*base, "get", "/app/x")
    assert got.returncode == 0 and got.stdout.strip() == "1"
    status = run(*base, "status")
    assert status.returncode == 0, status.stderr
    assert "unreachable" not in status.stdout  # ZooKeeper: srvr over TLS on the secureClientPort


def test_credentials_from_the_environment(run: Run, secure_etcd: Any) -> None:
    creds = secure_etcd.credentials("alice")
    env = {
        "COORDKIT_URL": secure_etcd.url,
        "COORDKIT_USER": "alice",
        "COORDKIT_PASSWORD_FILE": creds["password_file"],
        "COORDKIT_CA": creds["tls"].ca,
        "COORDKIT_CERT": creds["tls"].cert,
        "COORDKIT_KEY": creds["tls"].key,
    }
    assert run("put", "/env/x", "1", env=env).returncode == 0


def test_each_wrong_credential_has_its_exit_code(run: Run, secure_etcd: Any, tmp_path: Any) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    denied = run(*flags(secure_etcd, "alice", password_file=str(wrong)), "put", "/app/x", "1")
    assert denied.returncode == EXIT_AUTH and "user or password was rejected" in denied.stderr
    no_cert = run(*flags(secure_etcd, "alice", cert=False), "put", "/app/x", "1")
    assert no_cert.returncode == EXIT_TLS and "requires a client certificate" in no_cert.stderr
    refused = run(*flags(secure_etcd, "bob"), "put", "/app/x", "1")
    assert refused.returncode == EXIT_PERMISSION and "permission denied" in refused.stderr
    for done in (denied, no_cert, refused):
        assert len(done.stderr.strip().splitlines()[-1:]) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("option", ["--ca", "--password-file"])
def test_a_missing_file_is_a_usage_error(run: Run, option: str) -> None:
    done = run("--url", "etcds://127.0.0.1:1", option, "/nonexistent/file", "get", "/x")
    assert done.returncode == 2 and "/nonexistent/file" in done.stderr
