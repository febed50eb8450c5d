"""``coordkit get`` imports only what it needs (issue 14): run in a fresh interpreter on a
memory:// store (no server needed: the imports are the same for every backend's read path),
then the modules it loaded are inspected."""

from __future__ import annotations

import json
import subprocess
import sys

from cli_helpers import cli_env

_PROBE = """
import json, sys
from coordkit_cli.main import cli
sys.argv = ['coordkit', '--url', 'memory://imports', 'get', '/missing']
try:
    cli(prog_name='coordkit')
except SystemExit as exit:
    code = exit.code
print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))
"""

_NOT_NEEDED = ("coordkit.testing", "coordkit.dev", "coordkit_cli.dev", "coordkit_cli.services")


def test_get_does_not_import_the_harness_nor_other_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, env=cli_env(), check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 1  # the missing key: the command did run
    loaded = [m for m in report["modules"] if m.startswith(_NOT_NEEDED)]
    assert loaded == [], loaded
