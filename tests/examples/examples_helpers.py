"""Helpers for the example system's tests: waiting with a deadline, JSON over HTTP, subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]


def post(url: str, body: dict[str, Any], timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    response = requests.post(url, json=body, timeout=timeout)
    return response.status_code, response.json()


def get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    response = requests.get(url, timeout=timeout)
    return response.status_code, response.json()


def answers(url: str) -> dict[str, Any] | None:
    """The JSON of GET ``url`` when it answers 200, else None."""
    try:
        status, body = get(url, timeout=1.0)
    except (requests.RequestException, ValueError):
        return None
    return body if status == 200 else None


@dataclass
class Spawned:
    """An example program running as a subprocess, its output in ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still runs {timeout}s later; its log:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def spawn(module: str, name: str, env: dict[str, str], folder: Path) -> Spawned:
    """``python -m module`` from the repository root with ``env`` added, output to a file."""
    log = folder / f"{name}.log"
    environ = {
        **os.environ,
        "INSTANCE_ID": name,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **env,
    }
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Spawned(name, popen, log)
