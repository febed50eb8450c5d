"""``coordkit config``: what it does with input it cannot use. Files and stdin that are not
UTF-8 or not valid JSON/YAML, an export file that cannot be written, and a VALUE that
looks like JSON but is not: one line on stderr, exit 2, and nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Invoke, RunCli

OneLineError = Callable[..., None]


def _stored(invoke: Invoke, app: str = "app") -> dict[str, object]:
    result = invoke("--json", "config", "get", app)
    if result.exit_code == 1 and "has no settings" in result.stderr:
        return {}  # nothing stored: not found, not an empty success
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["settings"]


# --- import ----------------------------------------------------------------------------------
def test_import_of_a_file_that_is_not_utf8(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"city": "Malmö"}'.encode("latin-1"))
    result = invoke("config", "import", "app", str(path))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"coordkit: {path} is not UTF-8 text (byte 0xf6 at offset 14)\n"
    assert _stored(invoke) == {}


def test_import_of_stdin_that_is_not_utf8(invoke: Invoke, one_line_error: OneLineError) -> None:
    result = invoke("config", "import", "app", "-", input=b'{"a": "\xff"}')
    assert result.exit_code == 2
    one_line_error(result.stderr, "stdin is not UTF-8 text")
    assert _stored(invoke) == {}


@pytest.mark.parametrize(
    "name, text, fragments",
    [
        ("broken.json", '{"a": 1,', ["broken.json is not valid JSON", "line 1 column 9"]),
        ("trailing.json", '{"a": 1} x', ["trailing.json is not valid JSON", "Extra data"]),
        ("list.json", "[1, 2]", ["list.json", "must be a mapping"]),
    ],
)
def test_import_of_malformed_json(
    invoke: Invoke, one_line_error: OneLineError, tmp_path: Path, name: str, text: str, fragments: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = invoke("config", "import", "app", str(path))
    assert result.exit_code == 2
    one_line_error(result.stderr, *fragments)
    assert _stored(invoke) == {}


def test_import_of_malformed_yaml(invoke: Invoke, one_line_error: OneLineError, tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1,\nb: 2\n", encoding="utf-8")
    result = invoke("config", "import", "app", str(path))
    assert result.exit_code == 2
    one_line_error(result.stderr, "broken.yaml is not valid YAML", "line 1, column 4")


def test_import_of_malformed_stdin_names_stdin(invoke: Invoke, one_line_error: OneLineError) -> None:
    result = invoke("config", "import", "app", "-", input='{"a": }')
    assert result.exit_code == 2
    one_line_error(result.stderr, "stdin is not valid JSON")


def test_import_of_a_missing_file(invoke: Invoke, one_line_error: OneLineError, tmp_path: Path) -> None:
    result = invoke("config", "import", "app", str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    one_line_error(result.stderr, f"cannot read {tmp_path / 'absent.json'}", "No such file")


def test_import_accepts_a_byte_order_mark(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + '{"city": "Malmö"}'.encode())
    result = invoke("config", "import", "app", str(path))
    assert result.exit_code == 0, result.stderr
    assert _stored(invoke) == {"city": "Malmö"}


def test_non_utf8_stdin_in_a_real_process(run_cli: RunCli, one_line_error: OneLineError) -> None:
    # The real stdin, not CliRunner's: the bytes reach the command undecoded.
    result = run_cli("--url", "memory://", "config", "import", "app", "-", input=b'{"a": "\xc3"}')
    assert (result.returncode, result.stdout) == (2, "")
    one_line_error(result.stderr, "stdin is not UTF-8 text", "0xc3")


# --- export ----------------------------------------------------------------------------------
def test_export_to_a_missing_directory(invoke: Invoke, one_line_error: OneLineError, tmp_path: Path) -> None:
    assert invoke("config", "set", "app", "timeout", "5").exit_code == 0
    target = tmp_path / "nonexistent" / "dir" / "x.json"
    result = invoke("config", "export", "app", "-o", str(target))
    assert (result.exit_code, result.stdout) == (2, "")
    one_line_error(
        result.stderr, f"cannot write {target}", f"there is no directory {tmp_path / 'nonexistent' / 'dir'}"
    )
    assert not target.parent.exists()


def test_export_below_a_regular_file(invoke: Invoke, one_line_error: OneLineError, tmp_path: Path) -> None:
    invoke("config", "set", "app", "k", "1")  # something to export
    (tmp_path / "plain").write_text("")
    result = invoke("config", "export", "app", "-o", str(tmp_path / "plain" / "x.json"))
    assert result.exit_code == 2
    one_line_error(result.stderr, "cannot write", "plain/x.json")


def test_export_to_a_directory_is_a_usage_error(
    invoke: Invoke, one_line_error: OneLineError, tmp_path: Path
) -> None:
    result = invoke("config", "export", "app", "-o", str(tmp_path))
    assert result.exit_code == 2
    one_line_error(result.stderr, "is a directory", "(see 'coordkit config export --help')")


# --- set -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["{bad json", "[1, 2", '"unterminated', "  {'single': 1}", "[NaN]"])
def test_set_refuses_broken_json(invoke: Invoke, one_line_error: OneLineError, value: str) -> None:
    result = invoke("config", "set", "app", "k", value)
    assert (result.exit_code, result.stdout) == (2, "")
    one_line_error(result.stderr, repr(value), "is not valid JSON", "--string")
    assert invoke("config", "get", "app", "k").exit_code == 1  # nothing stored


def test_set_string_stores_the_text_as_is(invoke: Invoke) -> None:
    assert invoke("config", "set", "--string", "app", "k", "{bad json").exit_code == 0
    assert invoke("config", "get", "app", "k").stdout == '"{bad json"\n'
    assert invoke("config", "set", "--string", "app", "n", "5").exit_code == 0
    assert _stored(invoke) == {"k": "{bad json", "n": "5"}


@pytest.mark.parametrize(
    "value, stored",
    [
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        (' ["x"]', ["x"]),
        ('"quoted"', "quoted"),
        ("hello", "hello"),  # plain text is still a string
        ("12", 12),
        ("true", True),
    ],
)
def test_set_reads_json_and_plain_text(invoke: Invoke, value: str, stored: object) -> None:
    result = invoke("config", "set", "app", "k", value)
    assert result.exit_code == 0, result.stderr
    assert _stored(invoke) == {"k": stored}
