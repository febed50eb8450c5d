"""``coordkit lock`` and the queue view of ``coordkit ls``: in-process on memory for options
and errors, as real processes against real ZooKeeper and etcd, and against real ``etcdctl``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from holding_procs import Lines, stderr_of, wait_for_contenders

import coordkit
from coordkit.testing import EtcdServer, ZooKeeperServer, eventually

Start = Callable[..., subprocess.Popen[bytes]]
RunCli = Callable[..., subprocess.CompletedProcess[str]]

EXIT_NOT_WON = 6
EXIT_LOST = 5


# --- in-process, memory ----------------------------------------------------------------------
def test_command_gets_key_and_token_and_its_status_passes_through(
    invoke, store: coordkit.Client, tmp_path: Path
) -> None:
    seen = tmp_path / "env"
    script = f'echo "$COORDKIT_LOCK_KEY $COORDKIT_LOCK_TOKEN" > {seen}; exit 3'
    result = invoke("lock", "/jobs/lock", "--", "sh", "-c", script)
    assert result.exit_code == 3, result.stderr
    key, token = seen.read_text().split()
    assert key.startswith("jobs/lock/") and int(token) > 0  # keys relative to the namespace root
    assert result.stdout == ""  # stdout belongs to the command
    again = store.lock("/jobs/lock")
    assert again.acquire(blocking=False), "the lock was not released after the command"
    again.release()
    assert invoke("lock", "/jobs/lock", "--", "true").exit_code == 0


def test_timeout_while_another_holds(invoke, store: coordkit.Client, one_line_error) -> None:
    holder = store.lock("/busy")
    assert holder.acquire()
    result = invoke("lock", "--wait", "0.3", "/busy")
    assert result.exit_code == EXIT_NOT_WON
    assert result.stdout == ""
    one_line_error(result.stderr, "lock busy not acquired within 0.3s", f"held by {holder.key}")
    assert holder.is_held
    holder.release()
    assert invoke("lock", "--wait", "0.3", "/busy", "--", "true").exit_code == 0


@pytest.mark.parametrize("command", [["lock", "/busy"], ["elect", "/busy", "challenger"]])
def test_wait_bounds_the_wait_and_the_global_timeout_does_not(
    invoke, store: coordkit.Client, command: list[str]
) -> None:
    """`coordkit --timeout 1 lock NAME` bounds each operation, not the wait: the wait is --wait."""
    holder = store.lock("/busy") if command[0] == "lock" else store.election("/busy")
    assert holder.acquire() if command[0] == "lock" else holder.campaign("incumbent")  # type: ignore[union-attr]
    started = time.monotonic()
    result = invoke("--timeout", "0.2", command[0], "--wait", "1.5", *command[1:])
    assert result.exit_code == EXIT_NOT_WON, result.stderr
    assert time.monotonic() - started >= 1.5  # the global --timeout (0.2 s) did not end the wait


@pytest.mark.parametrize("command", [["lock", "/busy"], ["elect", "/busy", "challenger"]])
def test_the_old_wait_option_still_works_and_says_it_is_deprecated(
    invoke, store: coordkit.Client, command: list[str]
) -> None:
    holder = store.lock("/busy") if command[0] == "lock" else store.election("/busy")
    assert holder.acquire() if command[0] == "lock" else holder.campaign("incumbent")  # type: ignore[union-attr]
    result = invoke(command[0], "--timeout", "0.3", *command[1:])
    assert result.exit_code == EXIT_NOT_WON, result.stderr
    warning, failure = result.stderr.splitlines()
    assert "--timeout` is deprecated: it means --wait" in warning
    assert "within 0.3s" in failure
    both = invoke(command[0], "--timeout", "0.3", "--wait", "0.3", *command[1:])
    assert both.exit_code == 2 and "give only --wait" in both.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["lock"],
        ["lock", "--ttl", "0", "/x"],
        ["lock", "--wait", "-1", "/x"],
        ["lock", "/a/../b"],
    ],
)
def test_bad_usage_exits_2(invoke, args: list[str], one_line_error) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.stderr
    one_line_error(result.stderr)


def test_missing_command_releases_and_exits_127(invoke, store: coordkit.Client, one_line_error) -> None:
    result = invoke("lock", "/x", "--", "no-such-command-ck")
    assert result.exit_code == 127
    one_line_error(result.stderr, "no-such-command-ck: command not found")
    probe = store.lock("/x")
    assert probe.acquire(blocking=False)
    probe.release()


def test_ls_shows_holder_then_waiters(invoke, store: coordkit.Client, memory_url: str) -> None:
    holder = store.lock("/q", identity="first")
    assert holder.acquire()
    with coordkit.connect(memory_url) as other:
        waiter = other.lock("/q")
        thread = threading.Thread(target=waiter.acquire, daemon=True)
        thread.start()
        wait_for_contenders(store, "/q", 2)
        lines = invoke("ls", "/q").stdout.splitlines()
        assert lines[0].startswith(holder.key.rsplit("/", 1)[1])  # type: ignore[union-attr]
        assert lines[0].endswith(f"= first  (holder, token {holder.token})")
        contenders, _ = store.backend.queue_list("/q")
        assert lines[1].endswith(f"(waiting #1, token {contenders[1].create_revision})")
        rows = json.loads(invoke("--json", "ls", "/q").stdout)
        assert [(r["queue_position"], r["holder"]) for r in rows] == [(0, True), (1, False)]
        assert rows[0]["key"].lstrip("/") == holder.key  # a plain key ('/q/..' on path backends)
        tree = invoke("ls", "-r", "/").stdout.splitlines()
        assert "(holder" in tree[2] and "(waiting #1" in tree[3]
        holder.release()
        thread.join(10)
        assert waiter.is_held
        waiter.release()


def test_plain_directories_are_not_queues(invoke, store: coordkit.Client) -> None:
    store.put("/svc/leader", "node-1", ephemeral=True)
    store.put("/svc/abc", "x", ephemeral=True)  # hex-looking, but a sibling is not
    assert "holder" not in invoke("ls", "/svc").stdout
    assert all("queue_position" not in row for row in json.loads(invoke("--json", "ls", "/svc").stdout))


# --- real processes, real servers -------------------------------------------------------------
@pytest.fixture
def client(server_url: str) -> Iterator[coordkit.Client]:
    with coordkit.connect(server_url, ttl=4) as c:
        yield c


def test_holding_excludes_others_and_releases_on_sigint(
    server_url: str, client: coordkit.Client, cli_process: Start, run_cli: RunCli, one_line_error
) -> None:
    holder = cli_process("--url", server_url, "lock", "/l")
    key = Lines(holder).next()
    assert key.startswith("l/")
    contenders, _ = client.backend.queue_list("/l")
    assert [c.key for c in contenders] == [key]
    second = run_cli("--url", server_url, "lock", "--wait", "1", "/l", "--", "echo", "ran")
    assert second.returncode == EXIT_NOT_WON
    assert second.stdout == ""  # the command never ran
    one_line_error(second.stderr, "not acquired within 1s", key)
    waiter = cli_process("--url", server_url, "lock", "/l")
    wait_for_contenders(client, "/l", 2)
    waiter.send_signal(signal.SIGINT)
    assert waiter.wait(timeout=15) == 130
    one_line_error(stderr_of(waiter), "interrupted while waiting for lock l")
    wait_for_contenders(client, "/l", 1)  # its place in the queue went with its session
    holder.send_signal(signal.SIGINT)
    assert holder.wait(timeout=15) == 0, stderr_of(holder)
    probe = client.lock("/l")
    assert probe.acquire(timeout=5), "the lock was not released"
    probe.release()


def test_command_output_token_and_status(server_url: str, run_cli: RunCli) -> None:
    tokens = []
    for _ in range(2):
        done = run_cli("--url", server_url, "lock", "/l", "--", "sh", "-c", "echo $COORDKIT_LOCK_TOKEN")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().isdigit() and done.stdout.count("\n") == 1, done.stdout
        tokens.append(int(done.stdout))
    assert tokens[1] > tokens[0] > 0  # fencing tokens grow holder after holder
    failed = run_cli("--url", server_url, "lock", "/l", "--", "sh", "-c", "echo out; exit 7")
    assert (failed.returncode, failed.stdout, failed.stderr) == (7, "out\n", "")


def test_sigterm_reaches_the_command_and_releases(
    server_url: str, client: coordkit.Client, cli_process: Start
) -> None:
    proc = cli_process("--url", server_url, "lock", "/l", "--", "sh", "-c", "echo started; exec sleep 60")
    assert Lines(proc).next() == "started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 128 + signal.SIGTERM  # the command's status, as a shell gives it
    assert "Traceback" not in stderr_of(proc)
    probe = client.lock("/l")
    assert probe.acquire(timeout=5)
    probe.release()


def test_ls_lists_a_queue_of_cli_contenders(
    server_url: str, client: coordkit.Client, cli_process: Start, run_cli: RunCli
) -> None:
    holder = client.lock("/q", identity="lib")
    assert holder.acquire(timeout=10)
    waiter = cli_process("--url", server_url, "lock", "/q")
    wait_for_contenders(client, "/q", 2)
    lines = run_cli("--url", server_url, "ls", "/q").stdout.splitlines()
    assert len(lines) == 2, lines
    assert holder.key is not None and lines[0].startswith(holder.key.rsplit("/", 1)[1])
    assert lines[0].endswith(f"(holder, token {holder.token})")
    assert "(waiting #1, token " in lines[1]
    holder.release()
    assert Lines(waiter).next() == "q/" + lines[1].split()[0]  # the waiter was next, and got it
    waiter.send_signal(signal.SIGINT)
    assert waiter.wait(timeout=15) == 0


def test_ls_orders_kazoo_and_curator_nodes_by_sequence(zookeeper_server, run_cli: RunCli) -> None:
    from kazoo.client import KazooClient

    namespace = f"ck-cli-{uuid.uuid4().hex[:12]}"
    zk = KazooClient(hosts=",".join(zookeeper_server.endpoints))
    zk.start(timeout=15)
    try:
        base = f"/{namespace}/q"
        made = [
            zk.create(
                f"{base}/_c_{uuid.uuid4()}-lock-", b"curator", ephemeral=True, sequence=True, makepath=True
            ),
            zk.create(f"{base}/{uuid.uuid4().hex}__lock__", b"kazoo", ephemeral=True, sequence=True),
            zk.create(f"{base}/_c_{uuid.uuid4()}-lock-", b"", ephemeral=True, sequence=True),
        ]
        done = run_cli("--url", f"{zookeeper_server.url}/{namespace}", "ls", "/q")
        names = [line.split()[0] for line in done.stdout.splitlines()]
        assert names == [path.rsplit("/", 1)[1] for path in made]
        assert "(holder" in done.stdout.splitlines()[0] and "(waiting #2" in done.stdout.splitlines()[2]
    finally:
        zk.stop()
        zk.close()


@pytest.mark.parametrize("server_class", [EtcdServer, ZooKeeperServer], ids=["etcd", "zookeeper"])
def test_loss_terminates_the_command(
    server_class: type[EtcdServer | ZooKeeperServer], cli_process: Start
) -> None:
    with server_class() as server:
        proc = cli_process(
            "--url",
            server.url,
            "--timeout",
            "1",
            "lock",
            "--ttl",
            "2",
            "/l",
            "--",
            "sh",
            "-c",
            "echo $$; exec sleep 60",
        )
        command_pid = int(Lines(proc).next())
        server.pause()  # the session cannot be kept beyond its 2 s TTL
        try:
            status = proc.wait(timeout=30)
        finally:
            server.resume()
    assert status == EXIT_LOST
    message = stderr_of(proc)
    assert "lock l lost while the command ran" in message and "terminating the command" in message
    assert "Traceback" not in message
    with pytest.raises(ProcessLookupError):
        os.kill(command_pid, 0)  # terminated (and reaped by coordkit)


# --- interoperability with etcdctl --------------------------------------------------------------


def test_etcdctl_lock_and_coordkit_lock_exclude_each_other(
    etcd_server, etcdctl_process, cli_process: Start, run_cli: RunCli
) -> None:
    namespace = f"ck-cli-{uuid.uuid4().hex[:12]}"
    url, name = f"{etcd_server.url}/{namespace}", f"/{namespace}/l"  # etcdctl sees whole keys
    theirs = etcdctl_process("lock", name)
    their_key = Lines(theirs).next()
    assert their_key.startswith(name + "/")
    blocked = run_cli("--url", url, "lock", "--wait", "1", "/l")
    assert blocked.returncode == EXIT_NOT_WON, blocked.stderr
    assert their_key.rsplit("/", 1)[1] in blocked.stderr  # names etcdctl's key as the holder
    theirs.send_signal(signal.SIGINT)
    assert theirs.wait(timeout=15) == 0
    ours = cli_process("--url", url, "lock", "/l")
    assert Lines(ours).next().startswith("l/")
    with coordkit.connect(url) as observer:
        waiting = etcdctl_process("lock", name, "echo", "etcdctl-ran")
        waiting_out = Lines(waiting)
        wait_for_contenders(observer, "/l", 2)
        assert waiting_out.pending() == [] and waiting.poll() is None  # etcdctl waits for us
        ours.send_signal(signal.SIGINT)
        assert ours.wait(timeout=15) == 0
        assert waiting_out.next() == "etcdctl-ran"
        assert waiting.wait(timeout=15) == 0
        eventually(lambda: observer.tree("/l") == [], message="etcdctl released", timeout=15)


def test_a_slashed_coordkit_lock_meets_etcdctl_lock_of_the_name_without_it(
    etcd_server, etcdctl_process, cli_process: Start, run_cli: RunCli
) -> None:
    """At etcd's root (no namespace) `coordkit lock /NAME` queues under `NAME/`, etcdctl's layout,
    so it and `etcdctl lock NAME` exclude each other both ways."""
    name = f"ck-cli-{uuid.uuid4().hex[:12]}/nightly"
    ours = cli_process("--url", etcd_server.url, "lock", "/" + name)
    assert Lines(ours).next().startswith(name + "/")  # the etcd key itself, as etcdctl sees it
    with coordkit.connect(etcd_server.url) as observer:
        waiting = etcdctl_process("lock", name, "echo", "etcdctl-ran")
        waiting_out = Lines(waiting)
        wait_for_contenders(observer, name, 2)
        assert waiting_out.pending() == [] and waiting.poll() is None  # etcdctl waits for us
        ours.send_signal(signal.SIGINT)
        assert ours.wait(timeout=15) == 0
        assert waiting_out.next() == "etcdctl-ran"
        assert waiting.wait(timeout=15) == 0
    theirs = etcdctl_process("lock", name)
    their_key = Lines(theirs).next()
    blocked = run_cli("--url", etcd_server.url, "lock", "--timeout", "1", "/" + name)
    assert blocked.returncode == EXIT_NOT_WON, blocked.stderr
    assert f"held by {their_key}" in blocked.stderr  # we wait for etcdctl's holder
    theirs.send_signal(signal.SIGINT)
    assert theirs.wait(timeout=15) == 0
