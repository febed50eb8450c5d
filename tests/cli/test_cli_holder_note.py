"""`coordkit lock` / `coordkit elect` that give up after --wait name the holder, whatever the
spelling of the name on either side, on every backend (etcd also without a namespace, where
`x` and `/x` are two keys but one recipe)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from cli_helpers import make_runner
from click.testing import Result

import coordkit
from coordkit_cli.main import cli

EXIT_NOT_WON = 6


@pytest.fixture(params=["memory", "zookeeper", "etcd", "etcd-root"])
def url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("COORDKIT_URL", raising=False)
    namespace = "ck-cli-" + uuid.uuid4().hex[:12]
    if request.param == "memory":
        return f"memory://{namespace}"
    server = request.getfixturevalue(f"{request.param.removesuffix('-root')}_server")
    return server.url if request.param == "etcd-root" else f"{server.url}/{namespace}"


@pytest.fixture
def holder_client(url: str) -> Iterator[coordkit.Client]:
    with coordkit.connect(url, ttl=4) as client:
        yield client


@pytest.fixture
def run(url: str) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return make_runner().invoke(cli, ["--url", url, *args], catch_exceptions=False)

    return invoke


def _name() -> str:
    return f"holder-{uuid.uuid4().hex[:8]}/job"  # unique: etcd-root shares the whole store


@pytest.mark.parametrize(("held_as", "asked_as"), [("", "/"), ("/", "")])
def test_a_lock_not_acquired_names_its_holder(
    holder_client: coordkit.Client, run: Callable[..., Result], held_as: str, asked_as: str, one_line_error
) -> None:
    name = _name()
    holder = holder_client.lock(held_as + name)
    assert holder.acquire(timeout=10)
    result = run("lock", "--wait", "0.3", asked_as + name)
    assert result.exit_code == EXIT_NOT_WON, result.output
    one_line_error(result.stderr, f"lock {name} not acquired within 0.3s: held by {holder.key}")
    holder.release()


@pytest.mark.parametrize(("held_as", "asked_as"), [("", "/"), ("/", "")])
def test_an_election_not_won_names_its_leader(
    holder_client: coordkit.Client, run: Callable[..., Result], held_as: str, asked_as: str, one_line_error
) -> None:
    name = _name()
    leader = holder_client.election(held_as + name)
    assert leader.campaign("incumbent", timeout=10)
    result = run("elect", "--wait", "0.3", asked_as + name, "challenger")
    assert result.exit_code == EXIT_NOT_WON, result.output
    one_line_error(result.stderr, f"not elected leader of {name} within 0.3s: held by {leader.key}")
    leader.resign()
