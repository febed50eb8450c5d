"""The in-process backend behind ``memory://``: :mod:`.backend` (the backend contract) over
:mod:`.store` (the store that clients of one process share)."""

from .backend import MemoryBackend
from .store import MemoryStore, get_store, reset_stores

__all__ = ["MemoryBackend", "MemoryStore", "get_store", "reset_stores"]
