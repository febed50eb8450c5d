"""scripts/validate-deploy.sh: runs each validator that is installed, says which it skipped, and
fails on errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "validate-deploy.sh"


def _compose_tool() -> bool:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], check=False, capture_output=True, timeout=30)
        if probe.returncode == 0:
            return True
    return shutil.which("docker-compose") is not None


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # PYTHON: this interpreter, whose packages (kubernetes-validate) the script should use.
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _copy_deploy_files(root: Path) -> Path:
    shutil.copytree(ROOT / "docker", root / "docker")
    shutil.copytree(ROOT / "examples" / "k8s", root / "examples" / "k8s")
    return root


def test_the_repository_validates_with_every_installed_tool() -> None:
    result = _run()
    assert result.returncode == 0, result.stdout + result.stderr
    compose_lines = [line for line in result.stdout.splitlines() if " compose: " in line]
    assert len(compose_lines) == 3
    # The installed tool must have run each combination; without one, each says how to get it.
    expected = "ok" if _compose_tool() else "SKIPPED"
    assert all(line.split()[1] == expected for line in compose_lines), result.stdout
    if expected == "SKIPPED":
        assert all("apt-get install docker-compose" in line for line in compose_lines)
    assert result.stdout.splitlines()[-1].startswith("validate-deploy: summary 0 failed")


def test_a_compose_file_in_no_combination_fails(tmp_path: Path) -> None:
    root = _copy_deploy_files(tmp_path)
    shutil.copy(root / "docker" / "compose.servers.yml", root / "docker" / "compose.extra.yml")
    result = _run(root)
    assert result.returncode == 1
    assert "FAILED  compose: compose.extra.yml is in no combination" in result.stdout


def test_a_broken_compose_file_fails(tmp_path: Path) -> None:
    if not _compose_tool():
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    root = _copy_deploy_files(tmp_path)
    example = root / "docker" / "compose.example.yml"
    example.write_text(example.read_text().replace("    scale: 3\n", "    scael: 3\n", 1))
    result = _run(root)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "compose.example.yml" in failed[0], result.stdout
    assert "scael" in result.stderr
