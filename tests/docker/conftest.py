"""The docker-mode tests: collected only in docker mode (``--coordkit-docker=single|cluster`` or
``COORDKIT_TEST_DOCKER``), so that a run without Docker neither fails nor reports skips for them;
``scripts/test-docker.sh`` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("--coordkit-docker", default=""):
        return None
    return True
