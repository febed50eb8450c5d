"""Tests, examples and benchmarks wait with ``coordkit.testing.eventually()`` or on an event, not
with hand-written ``while ...: time.sleep(...)`` loops against a deadline: each such loop was its
own retry policy, and its failure said less than eventually()'s (what was awaited, the last value).

A loop counts when its body sleeps and it consults a clock or a deadline. The few left are listed
below with the reason they are not waits for a condition."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("tests", "examples", "bench", "coordkit/testing")

# (file, enclosing function): why the loop stays.
ALLOWED = {
    ("examples/common.py", "pause"): "an interruptible sleep: the signal handler may only set a flag",
    ("examples/demo_traffic.py", "run"): "pacing requests to their planned offsets, not a wait",
    ("coordkit/testing/_process.py", "_await_ready"): "readiness with three ways to fail at once",
    ("coordkit/testing/_process.py", "_wait_all_threads_stopped"): "best effort: no failure to report",
}
_CLOCK_NAMES = {"monotonic", "deadline", "remaining", "left", "ends"}


def _names(node: ast.AST) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            found.add(sub.attr)
        elif isinstance(sub, ast.Name):
            found.add(sub.id)
    return found


def polling_loops(path: Path) -> list[tuple[str, int]]:
    """(innermost enclosing function, line) of each while loop in ``path`` that sleeps against
    a clock."""
    loops: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.While):
                names = _names(child)
                if "sleep" in names and (names & _CLOCK_NAMES or any("deadline" in n for n in names)):
                    loops.append((function, child.lineno))
            visit(child, function)

    visit(ast.parse(path.read_text(encoding="utf-8")), "<module>")
    return loops


def test_no_hand_written_polling_loops() -> None:
    found = set()
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if any(part.startswith(".venv") for part in path.parts):
                continue
            relative = path.relative_to(ROOT).as_posix()
            found |= {(relative, function, line) for function, line in polling_loops(path)}
    unexpected = sorted(entry for entry in found if entry[:2] not in ALLOWED)
    assert not unexpected, f"use coordkit.testing.eventually() or wait on an event: {unexpected}"


def test_the_detector_sees_a_polling_loop(tmp_path: Path) -> None:
    """The check above would pass vacuously if the detector missed the shape it looks for."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time\n"
        "def wait(ready):\n"
        "    deadline = time.monotonic() + 5\n"
        "    while not ready():\n"
        "        assert time.monotonic() < deadline\n"
        "        time.sleep(0.05)\n"
        "def paced(items):\n"
        "    for item in items:\n"
        "        time.sleep(0.1)\n"
    )
    assert polling_loops(sample) == [("wait", 4)]
