"""Test support for coordkit users and coordkit itself: real local servers and pytest fixtures.

See ``coordkit.testing.servers`` for the harness and ``coordkit.testing.pytest_plugin`` for the
fixtures, which pytest loads by itself once coordkit is installed. Client faults:
``coordkit.testing.proxy`` (a loopback TCP proxy to blackhole, reset or delay), worker processes
in ``coordkit.testing.workers`` and the checkers of their histories in ``coordkit.testing.history``.
"""

from coordkit.testing.faults import Outage
from coordkit.testing.proxy import FaultProxy
from coordkit.testing.servers import *
from coordkit.testing.servers import __all__ as _server_names
from coordkit.testing.workers import Worker, Workers

__all__ = [*_server_names, "FaultProxy", "Outage", "Worker", "Workers"]
