"""``coordkit elect``: in-process on memory for options and errors, as real processes against
real ZooKeeper and etcd, and against real ``etcdctl elect``."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from holding_procs import Lines, stderr_of, wait_for_contenders

import coordkit
from coordkit.testing import EtcdServer

Start = Callable[..., subprocess.Popen[bytes]]
RunCli = Callable[..., subprocess.CompletedProcess[str]]

EXIT_NOT_WON = 6
EXIT_LOST = 5


# --- in-process, memory ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["elect", "/e"], "missing PROPOSAL"),
        (["elect", "--listen", "/e", "me"], "--listen takes only NAME"),
        (["elect", "--ttl", "-1", "/e", "me"], "--ttl"),
    ],
)
def test_bad_usage_exits_2(invoke, args: list[str], fragment: str, one_line_error) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    one_line_error(result.stderr, fragment)


def test_command_runs_as_leader(invoke, store: coordkit.Client, tmp_path: Path) -> None:
    seen = tmp_path / "env"
    script = f'echo "$COORDKIT_LEADER_KEY $COORDKIT_LEADER_TOKEN" > {seen}; exit 4'
    result = invoke("elect", "/e", "me", "--", "sh", "-c", script)
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    key, token = seen.read_text().split()
    assert key.startswith("e/") and int(token) > 0
    assert store.election("/e").leader() is None  # resigned when the command ended


def test_timeout_while_another_leads(invoke, store: coordkit.Client, one_line_error) -> None:
    leader = store.election("/e")
    assert leader.campaign("incumbent")
    result = invoke("elect", "--wait", "0.3", "/e", "challenger")
    assert result.exit_code == EXIT_NOT_WON
    assert result.stdout == ""
    one_line_error(result.stderr, "not elected leader of e within 0.3s", f"held by {leader.key}")
    assert leader.is_leader
    leader.resign()


# --- real processes, real servers -------------------------------------------------------------
@pytest.fixture
def client(server_url: str) -> Iterator[coordkit.Client]:
    with coordkit.connect(server_url, ttl=4) as c:
        yield c


def test_campaign_listen_proclaim_and_handoff(
    server_url: str, client: coordkit.Client, cli_process: Start
) -> None:
    listener = cli_process("--url", server_url, "elect", "--listen", "/e")
    heard = Lines(listener)
    json_listener = cli_process("--url", server_url, "--json", "elect", "-l", "/e")
    heard_json = Lines(json_listener)

    first = client.election("/e")
    assert first.campaign("py-1", timeout=10)
    assert heard.next() == "py-1"
    assert json.loads(heard_json.next()) == {"key": first.key, "proposal": "py-1", "token": first.token}
    first.proclaim("py-2")
    assert heard.next() == "py-2"
    assert json.loads(heard_json.next())["proposal"] == "py-2"

    candidate = cli_process("--url", server_url, "elect", "/e", "alpha")
    said = Lines(candidate)
    wait_for_contenders(client, "/e", 2)
    assert said.pending() == [] and candidate.poll() is None  # nothing before winning
    first.resign()
    key = said.next()
    assert (key.startswith("e/"), said.next()) == (True, "alpha")
    assert heard.next() == "alpha"
    alpha = json.loads(heard_json.next())
    assert alpha["key"] == key and alpha["token"] > (first.token or 0)

    candidate.send_signal(signal.SIGINT)
    assert candidate.wait(timeout=15) == 0, stderr_of(candidate)
    # A leader that resigns at once may be folded into the next re-read (as with etcdctl
    # elect -l): this one leads until the listeners have shown it.
    runner = cli_process(
        "--url",
        server_url,
        "elect",
        "/e",
        "beta",
        "--",
        "sh",
        "-c",
        'echo "$COORDKIT_LEADER_TOKEN $COORDKIT_LEADER_KEY"; exec sleep 60',
    )
    token, beta_key = Lines(runner).next().split()
    assert heard.next() == "beta"
    beta = json.loads(heard_json.next())
    assert (beta["key"], beta["token"]) == (beta_key, int(token))
    assert beta["token"] > alpha["token"]
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=15) == 128 + signal.SIGTERM
    assert client.election("/e").leader() is None  # resigned after the command
    for proc in (listener, json_listener):
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in stderr_of(proc)


def test_leadership_loss_while_holding(cli_process: Start) -> None:
    with EtcdServer() as server:
        proc = cli_process("--url", server.url, "--timeout", "1", "elect", "--ttl", "2", "/e", "me")
        said = Lines(proc)
        assert said.next().startswith("e/") and said.next() == "me"
        server.pause()
        try:
            status = proc.wait(timeout=30)
        finally:
            server.resume()
    assert status == EXIT_LOST
    message = stderr_of(proc)
    assert "leadership of e lost" in message and "Traceback" not in message


# --- interoperability with etcdctl --------------------------------------------------------------


def test_etcdctl_and_coordkit_see_each_others_candidates(
    etcd_server, etcdctl_process, cli_process: Start
) -> None:
    namespace = f"ck-cli-{uuid.uuid4().hex[:12]}"
    url, name = f"{etcd_server.url}/{namespace}", f"/{namespace}/e"  # etcdctl sees whole keys
    ours_listening = Lines(cli_process("--url", url, "elect", "--listen", "/e"))
    theirs_listening = Lines(etcdctl_process("elect", "-l", name))

    theirs = etcdctl_process("elect", name, "from-etcdctl")
    their_key = Lines(theirs).next()
    assert their_key.startswith(name + "/")
    assert ours_listening.next() == "from-etcdctl"

    ours = cli_process("--url", url, "elect", "/e", "from-coordkit")
    said = Lines(ours)
    with coordkit.connect(url) as observer:
        wait_for_contenders(observer, "/e", 2)  # ours queues behind etcdctl's candidate
    assert said.pending() == []
    theirs.send_signal(signal.SIGINT)
    assert theirs.wait(timeout=15) == 0
    our_key = said.next()
    assert said.next() == "from-coordkit"
    assert ours_listening.next() == "from-coordkit"
    seen = [theirs_listening.next() for _ in range(4)]  # etcdctl prints key, then value
    assert seen == [their_key, "from-etcdctl", f"/{namespace}/{our_key}", "from-coordkit"]
    ours.send_signal(signal.SIGINT)
    assert ours.wait(timeout=15) == 0
