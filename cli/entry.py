"""The console script (``coordkit = coordkit_cli.entry:main``): a short-lived process, so the
garbage collector waits while the command's modules are imported.

A ``coordkit get`` creates a few hundred thousand objects as it imports Click, the backend's
client library and coordkit, none of them garbage, and the collector's passes over them took
about an eighth of its CPU time. Collection is therefore off from the first import until the
command has run :data:`RESUME_AFTER` seconds; then the objects made so far are frozen (no later
collection scans them again) and collection resumes, so that a long-running command (``watch``,
``lock``, ``ui``, ``dev up``) collects as usual. If the process ends first, nothing was lost:
every object is still freed by its reference count at exit. Importing :mod:`.main` (for
``CliRunner`` or embedding) changes nothing: only this entry point pauses the collector.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["RESUME_AFTER", "main"]

RESUME_AFTER = 1.0  # seconds from the start: far beyond a get's, short for a watch's life


def _resume() -> None:
    gc.freeze()
    gc.enable()


def main() -> None:
    """Pause the collector, start the timer that resumes it, then run the CLI."""
    gc.disable()
    resume = threading.Timer(RESUME_AFTER, _resume)
    resume.daemon = True  # the process may end while it waits
    resume.start()
    from .main import main as run

    run()
