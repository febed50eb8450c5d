"""Fixtures for ``coordkit dev``: a dev folder of the test's own, and nothing left running after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dev_helpers import dev_env, stop_everything


@pytest.fixture
def dev_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh dev folder for this test, set in this process's environment; stopped afterwards."""
    folder = tmp_path / "dev"
    for name in ("COORDKIT_DEV_DIR", "COORDKIT_DEV_ETCD_PORT", "COORDKIT_DEV_ZOOKEEPER_PORT"):
        monkeypatch.setenv(name, dev_env(folder)[name])
    monkeypatch.delenv("COORDKIT_URL", raising=False)
    yield folder
    stop_everything(folder)
