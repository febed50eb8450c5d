"""Every package in the source tree is declared in setup.cfg, so `pip install .` ships it."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_declared() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = set(config["options"]["packages"].split())
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "coordkit").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - declared == set(), "add these to setup.cfg [options] packages"
    assert "coordkit_cli" in declared and (ROOT / "cli" / "__init__.py").exists()


def test_the_package_is_typed() -> None:
    assert (ROOT / "coordkit" / "py.typed").exists()
