"""The project supports Python 3.11, 3.12 and 3.13 with one lock: pip's resolver, asked for
binary wheels only, must find every pin of requirements.lock for each version (as Debian and
Ubuntu LTS ship 3.11 and 3.12, and 3.13 is current).

The resolution queries the package registry (about a minute per version), so it runs in CI
(CI=true) or with LOCK_CHECK=1, and is skipped otherwise -- and when the registry cannot be
reached at all, which this test then says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT

VERSIONS = ("3.11", "3.12", "3.13")


def test_pyproject_and_make_accept_exactly_the_supported_versions() -> None:
    import tomllib

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "SUPPORTED := python3.11 python3.12 python3.13 python3" in makefile
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in makefile


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CI") != "true" and os.environ.get("LOCK_CHECK") != "1",
                    reason="queries the package registry: runs in CI (CI=true) or with LOCK_CHECK=1")
def test_the_lock_resolves_for_every_supported_python(tmp_path: Path) -> None:
    processes = {
        version: subprocess.Popen(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
             "--ignore-installed", "--only-binary=:all:", "--python-version", version,
             "--target", str(tmp_path / version), "-r", str(PROJECT_ROOT / "requirements.lock")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for version in VERSIONS
    }
    failures = {}
    for version, process in processes.items():
        out, err = process.communicate(timeout=900)
        if process.returncode != 0:
            failures[version] = "\n".join(line for line in err.splitlines() if "is ignored" not in line)[-3000:]
    if failures and all("Could not fetch URL" in e or "connection" in e.lower() and "No matching" not in e
                        for e in failures.values()):
        pytest.skip(f"the package registry is unreachable: {next(iter(failures.values()))[-300:]}")
    assert not failures, failures
