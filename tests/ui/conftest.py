"""Browser tests of ``coordkit ui``: a headless Chromium driven by Selenium (Debian's
``chromium`` and ``chromium-driver`` packages, installed by scripts/install-servers.sh).

Each module here sets ``pytestmark = pytest.mark.ui`` (``pytest -m ui`` selects them); the
backend markers come from tests/conftest.py as for every test (the ``backend_kind`` parameter).
Screenshots go to $COORDKIT_UI_SCREENSHOTS when set (that is how docs/ui/ was made), else under
pytest's tmp dir.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("COORDKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COORDKIT_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session (a skip, which strict mode fails, without it).
    Its temporary files (profile, singleton socket) go under pytest's tmp dir, not /tmp."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.skip(f"{path} is missing: apt-get install chromium chromium-driver")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    temp = {"TMPDIR": str(tmp_path_factory.mktemp("chromium"))}
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env={**os.environ, **temp}), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """Where this test saves its screenshots."""
    root = os.environ.get("COORDKIT_UI_SCREENSHOTS")
    if root:
        path = Path(root)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("ui-screenshots")
