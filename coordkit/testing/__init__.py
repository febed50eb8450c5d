"""Test support for coordkit users and coordkit itself: real local servers and pytest fixtures.

See ``coordkit.testing.servers`` for the harness and ``coordkit.testing.pytest_plugin`` for the
fixtures, which pytest loads by itself once coordkit is installed.
"""

from coordkit.testing.faults import Outage
from coordkit.testing.servers import *
from coordkit.testing.servers import __all__ as _server_names

__all__ = [*_server_names, "Outage"]
