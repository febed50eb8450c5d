"""Locks, semaphores and elections, written once over the backend protocol.

Each waits in a contender queue under its name; :class:`Contender` is one entry of such a
queue, as ``Lock.contenders()`` and ``Election.contenders()`` list them (the first holds the
lock or leads).
"""

from ..backends.contender_queue import Contender

__all__ = ["Contender"]
