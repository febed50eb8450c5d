"""A service stopped with SIGTERM drains first: a balancer in another process stops picking it
within the watch delay while it is still registered, the call it had in flight finishes, and
only then does it deregister (examples/payment_service.py, what the k8s example runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from ops_helpers import eventually

import coordkit

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0
DELAY_MS = 1500  # every payment takes this long: a call is surely in flight when SIGTERM comes


@pytest.fixture(params=["etcd", "zookeeper"])
def url(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue(f"{request.param}_server")
    return f"{server.url}/ck-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        environ = {**os.environ, "INSTANCE_ID": name, "PYTHONUNBUFFERED": "1", **env}
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        with open(tmp_path / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "examples.payment_service"],
                cwd=ROOT,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:  # only those this test started, by their handle
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_sigterm_drains_then_finishes_in_flight_then_deregisters(
    url: str, spawn: Callable[[str, dict[str, str]], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    env = {"COORDKIT_URL": url, "PORT": "0", "ADVERTISE_HOST": "127.0.0.1", "LISTEN_HOST": "127.0.0.1"}
    with coordkit.connect(url, ttl=4) as client:
        client.put("/config/payment-service/delay_ms", str(DELAY_MS))
        going = spawn("pay-going", {**env, "DRAIN_SECONDS": "10", "COORDKIT_METRICS": "0"})
        spawn("pay-staying", {**env, "COORDKIT_METRICS": "0"})
        history: list[tuple[float, dict[str, str]]] = []  # what another process sees, in order
        with (
            client.discover("payment-service", statuses=None) as seen,
            client.balancer("payment-service") as lb,
        ):
            seen.add_listener(
                lambda found: history.append((time.monotonic(), {i.id: i.status for i in found}))
            )
            assert seen.wait_for(lambda found: len(found) == 2, DEADLINE), (
                tmp_path / "pay-going.log"
            ).read_text()
            eventually(lambda: len(lb.eligible) == 2, "both instances in the balancer's rotation")
            [target] = [i for i in seen.instances if i.id == "pay-going"]
            answer: list[int] = []
            call = threading.Thread(
                target=lambda: answer.append(
                    requests.post(
                        f"http://127.0.0.1:{target.port}/payment",
                        json={"order_id": "o-1", "amount": 5, "token": 1},
                        timeout=DEADLINE,
                    ).status_code
                )
            )
            call.start()
            stats = f"http://127.0.0.1:{target.port}/stats"
            eventually(lambda: requests.get(stats, timeout=5).json()["in_flight"] >= 1, "the call in flight")
            going.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            eventually(
                lambda: [i.id for i in lb.eligible] == ["pay-staying"], "the drained one out of rotation"
            )
            left_rotation = time.monotonic()
            assert {lb.pick().id for _ in range(20)} == {"pay-staying"}
            # Still registered (draining) while its call is in flight: it was not just removed.
            # This cache follows the store on a watch of its own, so it may see it a moment
            # after the balancer's cache did.
            eventually(
                lambda: any(s.get("pay-going") == "draining" for _, s in history),
                "another cache of this process saw the instance draining",
            )
            call.join(DEADLINE)
            assert answer == [200]  # the call in flight finished
            assert going.wait(DEADLINE) == 0
            assert seen.wait_for(lambda found: [i.id for i in found] == ["pay-staying"], DEADLINE)
    log = (tmp_path / "pay-going.log").read_text()
    assert log.index("draining /services/payment-service/pay-going") < log.index("deregistered")
    # The drain reached the other process well within the work still in flight (the watch delay).
    assert left_rotation - signalled < DELAY_MS / 1000, history
