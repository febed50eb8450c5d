"""Test support for coordkit users and coordkit itself: real local servers and pytest fixtures.

See ``coordkit.testing.servers`` for the harness and ``coordkit.testing.pytest_plugin`` for the
fixtures, which pytest loads by itself once coordkit is installed.
"""

from coordkit.testing.servers import *  # noqa: F403  (servers.py is the one list of names)
from coordkit.testing.servers import __all__ as __all__
