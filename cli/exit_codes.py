"""Every status the ``coordkit`` command exits with: the one table.

``coordkit --help`` prints it (:func:`exit_code_table`, its epilog), the README copies it (a
test compares the two), and every command exits through it, so that none of them can drift.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ExitCode", "exit_code_table"]


class ExitCode(enum.IntEnum):
    """Every status the ``coordkit`` command exits with; each member's ``meaning`` is its line
    in ``coordkit --help``. With a COMMAND, ``lock``, ``elect`` and ``register`` exit with the
    command's own status instead (128 + N when signal N ended it)."""

    meaning: str

    def __new__(cls, value: int, meaning: str) -> Self:
        member = int.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    #: Success; ``watch`` also exits 0 when stopped by Ctrl-C or SIGTERM, its normal end.
    OK = 0, "success (watch: also when stopped by Ctrl-C or SIGTERM)"
    #: An absence the user asked about (NotFoundError), and any failure without a code of its own.
    NOT_FOUND = 1, "not found: the key, config, setting or service asked for; or another error"
    #: Click's own code for usage errors; also a bad URL or key name (ConfigurationError).
    USAGE = 2, "bad usage, URL, option or key name"
    #: ConflictError: the key exists (create), is at another version, or has children.
    CONFLICT = 3, "conflict: the key exists, or is at another version"
    #: BackendUnavailableError (OperationTimeoutError included): no server answered in time.
    UNAVAILABLE = 4, "no server answered within the timeout"
    #: SessionLostError; for lock and elect, ownership lost while holding.
    SESSION_LOST = 5, "the session was lost (lock, elect: the lock or leadership was lost)"
    #: lock, elect: ``--wait`` ran out before the lock or leadership was won.
    NOT_WON = 6, "lock, elect: not acquired or elected within --wait"
    #: status: the report was printed, and an endpoint is down or there is no leader.
    UNHEALTHY = 7, "status: an endpoint does not answer, or the cluster has no leader"
    #: AuthenticationError.
    AUTH = 8, "authentication failed: wrong or missing user or password"
    #: TLSError.
    TLS = (
        9,
        (
            "TLS failed: untrusted or mismatched server certificate, missing or expired client "
            "certificate, or TLS on one side only"
        ),
    )
    #: PermissionDeniedError.
    PERMISSION = 10, "permission denied: the user's roles (etcd) or the node's ACL (ZooKeeper) refuse it"
    #: A shell's code for a command that exists but cannot be executed.
    CANNOT_RUN = 126, "lock, elect, register: COMMAND exists but cannot be run"
    #: A shell's code for a command that is not found.
    COMMAND_NOT_FOUND = 127, "lock, elect, register: COMMAND not found"
    #: 128 + SIGINT, as shells report an interrupted command.
    INTERRUPTED = 130, "interrupted (Ctrl-C; lock, elect: also SIGTERM while waiting)"


def exit_code_table() -> str:
    """The ``--help`` epilog: one line per :class:`ExitCode`, kept unwrapped (``\\b``)."""
    rows = [f"  {code.value:<4} {code.meaning}" for code in ExitCode]
    return (
        "\n".join(
            [
                "\b",
                "Exit codes:",
                *rows,
                "  lock, elect and register with a COMMAND exit with the command's status.",
            ]
        )
        + "\n"
    )
