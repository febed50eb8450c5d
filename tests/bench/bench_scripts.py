"""Running a benchmark script from a test.

A script that takes too long (its own timeout here, or the test's pytest timeout) gets SIGTERM
first, which the scripts turn into SystemExit (``coordkit.testing.install_sigterm_exit``), so
that they stop the servers they started; SIGKILL follows only if it does not exit in time.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

__all__ = ["run_script"]

STOP_WAIT = 30.0  # seconds a stopped script has to stop its servers and exit


def run_script(command: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``command``, capturing its output as text; raises TimeoutExpired after ``timeout``."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:  # the timeout, or the test's own (pytest-timeout) or an interrupt
            proc.terminate()
            try:
                proc.communicate(timeout=STOP_WAIT)
            finally:  # a second interrupt during that wait still kills it
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            raise
    return subprocess.CompletedProcess(list(command), proc.returncode, out, err)
