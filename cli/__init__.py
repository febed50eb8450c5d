"""The ``coordkit`` command-line tool (installed as the package ``coordkit_cli``).

``coordkit_cli.entry:main`` is the console script: it pauses the garbage collector while the
command starts, then runs :func:`coordkit_cli.main.main`; :data:`coordkit_cli.main.cli` is the
Click group, for embedding and for tests with ``click.testing.CliRunner``.
"""

from __future__ import annotations
