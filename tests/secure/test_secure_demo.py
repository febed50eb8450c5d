"""The example system's demo runs on a secured etcd (credentials from the environment, which
its services inherit), and its report shows no secret."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_on_a_secured_etcd(secure_etcd: Any, no_secret_in: Callable[[str], None]) -> None:
    creds = secure_etcd.credentials("alice")
    tls = creds["tls"]
    env = {
        **os.environ,
        "COORDKIT_USER": "alice",
        "COORDKIT_PASSWORD_FILE": creds["password_file"],
        "COORDKIT_CA": tls.ca,
        "COORDKIT_CERT": tls.cert,
        "COORDKIT_KEY": tls.key,
    }
    result = subprocess.run(
        [sys.executable, "examples/demo.py", "--quick", "--url", secure_etcd.url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    output = result.stdout + result.stderr
    no_secret_in(output)
    assert result.returncode == 0, output[-3000:]
    assert "FAIL" not in result.stdout and "Traceback" not in output
