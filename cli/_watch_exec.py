"""``coordkit watch --exec``: one run of a handler per change, in order, one at a time.

The handler gets the event in its environment (COORDKIT_WATCH_TYPE, COORDKIT_WATCH_KEY,
COORDKIT_WATCH_REVISION) and as one JSON object on stdin (``--json``'s line for the event,
value included); its stdout and stderr are the watch's. Changes made while it runs wait
their turn (nothing is dropped or merged). A handler that exits non-zero is reported on
stderr; then the watch goes on (``--on-failure continue``, the default) or stops with the
handler's status (``stop``). A handler that cannot be started ends the watch at once (126 or
127, as a shell would), whatever the policy: every later run would fail the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading

from coordkit import WatchEvent

from .errors import CliError
from .exit_codes import ExitCode
from .output import Output, event_fields

__all__ = ["ON_FAILURE", "Handler"]

ON_FAILURE = ("continue", "stop")
_POLL_SECONDS = 0.25


class Handler:
    """Runs ``command`` for each event; see the module docstring."""

    def __init__(self, command: list[str], on_failure: str, stop: threading.Event) -> None:
        self.command, self.on_failure, self.stop = command, on_failure, stop
        self.failures = 0

    def run(self, event: WatchEvent) -> None:
        """One run for ``event``; raises CliError to end the watch (by the policy)."""
        fields = event_fields(event)
        env = {
            **os.environ,
            "COORDKIT_WATCH_TYPE": event.type.value,
            "COORDKIT_WATCH_KEY": event.key,
            "COORDKIT_WATCH_REVISION": str(event.revision),
        }
        try:
            process = subprocess.Popen(self.command, stdin=subprocess.PIPE, env=env)
        except FileNotFoundError:
            raise CliError(
                f"--exec: {self.command[0]}: command not found", ExitCode.COMMAND_NOT_FOUND
            ) from None
        except PermissionError as exc:
            raise CliError(f"--exec: {self.command[0]}: cannot run it ({exc})", ExitCode.CANNOT_RUN) from None
        status = self._wait(process, (json.dumps(fields) + "\n").encode())
        if status == 0:
            return
        self.failures += 1
        change = f"{event.type.value.upper()} {event.key} (revision {event.revision})"
        Output.note(f"--exec handler exited {status} for {change}")
        if self.on_failure == "stop":
            raise CliError(f"watch stopped: the handler failed (--on-failure stop), exiting {status}", status)

    def _wait(self, process: subprocess.Popen[bytes], data: bytes) -> int:
        """The handler's status; a stop request (Ctrl-C, SIGTERM) is passed on to it."""
        payload: bytes | None = data
        while True:
            try:
                process.communicate(payload, timeout=_POLL_SECONDS)
                return process.returncode
            except subprocess.TimeoutExpired:
                payload = None  # handed over already: communicate() keeps what it wrote
                if self.stop.is_set() and process.poll() is None:
                    process.terminate()
            except BrokenPipeError:  # the handler did not read its stdin: its business
                payload = None
