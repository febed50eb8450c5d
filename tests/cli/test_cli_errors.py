"""Global options, lazy connection, and the one table from errors to exit codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import coordkit
from coordkit_cli.errors import exit_code_for, message_for
from coordkit_cli.exit_codes import ExitCode

Invoke = Callable[..., Result]
OneLineError = Callable[..., None]


@pytest.mark.parametrize(
    "error, code",
    [
        (coordkit.ConfigurationError("bad"), 2),
        (coordkit.InvalidNameError("bad name"), 2),
        (coordkit.NotFoundError("/a: no such key"), 1),
        (coordkit.ConflictError("changed"), 3),
        (coordkit.KeyExistsError("exists"), 3),
        (coordkit.VersionConflictError("version"), 3),
        (coordkit.NotEmptyError("children"), 3),
        (coordkit.BackendUnavailableError("down"), 4),
        (coordkit.OperationTimeoutError("slow"), 4),
        (coordkit.SessionLostError("gone"), 5),
        (coordkit.ClosedError("closed"), 1),
        (coordkit.OwnershipError("not held"), 1),
    ],
)
def test_exit_code_table(error: coordkit.CoordkitError, code: int) -> None:
    assert exit_code_for(error) == code


def test_help_lists_every_exit_code_from_the_one_table(invoke: Invoke) -> None:
    """The epilog is generated from ExitCode, so the two cannot disagree."""
    shown = invoke("--help", url=None).stdout
    for code in ExitCode:
        assert re.search(rf"^ +{code.value} +{re.escape(code.meaning)}$", shown, re.MULTILINE), (code, shown)
    assert len({code.value for code in ExitCode}) == len(ExitCode)  # no two names for one code


def test_the_readme_documents_every_exit_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", readme, re.MULTILINE))
    assert sorted(int(code) for code in rows) == sorted(code.value for code in ExitCode)
    for code in ExitCode:
        assert rows[str(code.value)].replace("`", "") == code.meaning, code


def test_a_missing_command_exits_with_the_tables_code(invoke: Invoke) -> None:
    result = invoke("lock", "/x", "--", "no-such-command-ck")
    assert result.exit_code == ExitCode.COMMAND_NOT_FOUND == 127


def test_unavailable_message_names_the_endpoints_once() -> None:
    endpoints = ("10.0.0.1:2379", "10.0.0.2:2379")
    named = message_for(coordkit.BackendUnavailableError("no answer\nin 1s"), endpoints)
    assert named == "cannot reach 10.0.0.1:2379, 10.0.0.2:2379: no answer in 1s"
    already = coordkit.BackendUnavailableError("no server at 10.0.0.1:2379, 10.0.0.2:2379")
    assert message_for(already, endpoints) == str(already)


def test_version_and_help_do_not_connect(invoke: Invoke) -> None:
    # Port 1 would fail (or hang) if anything tried to connect.
    version = invoke("--version", url="etcd://127.0.0.1:1")
    assert (version.exit_code, version.stdout.strip()) == (0, f"coordkit {coordkit.__version__}")
    assert invoke("put", "--help", url="etcd://127.0.0.1:1").exit_code == 0


def test_no_url_exits_2(invoke: Invoke, one_line_error: OneLineError) -> None:
    result = invoke("ls", url=None)
    assert result.exit_code == 2
    one_line_error(result.stderr, "--url", "COORDKIT_URL")


def test_url_from_the_environment(
    invoke: Invoke, memory_url: str, monkeypatch: pytest.MonkeyPatch, store: coordkit.Client
) -> None:
    store.put("/k", "from env")
    monkeypatch.setenv("COORDKIT_URL", memory_url)
    assert invoke("get", "/k", url=None).stdout == "from env\n"


def test_bad_url_exits_2(invoke: Invoke, one_line_error: OneLineError) -> None:
    result = invoke("ls", url="ftp://example.com")
    assert result.exit_code == 2
    one_line_error(result.stderr, "ftp://example.com")


def test_bad_timeout_is_a_usage_error(invoke: Invoke, one_line_error: OneLineError) -> None:
    result = invoke("--timeout", "0", "ls")
    assert result.exit_code == 2
    one_line_error(result.stderr, "'--timeout'", "(see 'coordkit --help')")


def test_the_client_is_closed_after_every_command(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    clients: list[coordkit.Client] = []
    real_connect = coordkit.connect

    def recording_connect(url: str, **options: Any) -> coordkit.Client:
        clients.append(real_connect(url, **options))
        return clients[-1]

    monkeypatch.setattr(coordkit, "connect", recording_connect)
    assert invoke("put", "/k", "v").exit_code == 0
    assert invoke("get", "/missing").exit_code == 1
    assert [c.state for c in clients] == [coordkit.SessionState.CLOSED] * 2


def test_timeout_option_reaches_the_client(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    real_connect = coordkit.connect

    def recording_connect(url: str, **options: Any) -> coordkit.Client:
        seen.update(options)
        return real_connect(url, **options)

    monkeypatch.setattr(coordkit, "connect", recording_connect)
    invoke("--timeout", "1.5", "ls")
    assert seen == {"timeout": 1.5, "connect_timeout": 1.5, "session": False}  # ls only reads


def failing_get(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def get(self: coordkit.Client, key: str) -> None:
        raise error

    monkeypatch.setattr(coordkit.Client, "get", get)


def test_unreachable_at_connect_names_endpoints(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, one_line_error: OneLineError
) -> None:
    def unreachable(url: str, **options: object) -> coordkit.Client:
        raise coordkit.BackendUnavailableError("no server answered within 1s")

    monkeypatch.setattr(coordkit, "connect", unreachable)
    result = invoke("get", "/k", url="etcd://10.0.0.1:2379,10.0.0.2:2379/ns")
    assert result.exit_code == 4
    one_line_error(result.stderr, "10.0.0.1:2379, 10.0.0.2:2379", "no server answered")


def test_operation_timeout_exits_4(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, memory_url: str, one_line_error: OneLineError
) -> None:
    failing_get(monkeypatch, coordkit.OperationTimeoutError("deadline passed"))
    result = invoke("get", "/k")
    assert result.exit_code == 4
    one_line_error(result.stderr, memory_url.split("://")[1], "deadline passed")


def test_session_lost_exits_5(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, one_line_error: OneLineError
) -> None:
    failing_get(monkeypatch, coordkit.SessionLostError("the server expired the session"))
    result = invoke("get", "/k")
    assert result.exit_code == 5
    one_line_error(result.stderr, "expired")


def test_other_coordkit_error_exits_1(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, one_line_error: OneLineError
) -> None:
    failing_get(monkeypatch, coordkit.ClosedError("closed"))
    result = invoke("get", "/k")
    assert result.exit_code == 1
    one_line_error(result.stderr, "closed")


def test_keyboard_interrupt_exits_130_quietly(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_get(monkeypatch, KeyboardInterrupt())
    result = invoke("get", "/k")
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "")


def test_a_bug_is_one_line_not_a_traceback(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, one_line_error: OneLineError
) -> None:
    monkeypatch.delenv("COORDKIT_DEBUG", raising=False)
    failing_get(monkeypatch, RuntimeError("oops"))
    result = invoke("get", "/k")
    assert result.exit_code == 1
    one_line_error(result.stderr, "internal error", "RuntimeError", "oops")


def test_watch_of_the_root_without_recursive_is_a_usage_error(
    invoke: Invoke, one_line_error: OneLineError
) -> None:
    result = invoke("watch", "/")
    assert result.exit_code == 2
    one_line_error(result.stderr, "watch -r /", "(see 'coordkit watch --help')")
