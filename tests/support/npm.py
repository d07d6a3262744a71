"""npm packages for the browser tests, installed at test time into a cache
outside the repository ($STATUS_FANOUT_NPM_CACHE, by default
status-fanout-npm under the system's temp folder), never into the
repository and never committed. Versions are pinned here; a test that needs
them skips where npm is missing or cannot install, except in CI (.ci/run sets
STATUS_FANOUT_ALONE; $CI counts too), which has npm: there it fails."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

CACHE = Path(os.environ.get("STATUS_FANOUT_NPM_CACHE", Path(tempfile.gettempdir()) / "status-fanout-npm"))
# Pinned: a new release must not change what a test sees without a commit.
STATUS_WIDGET = "@statuspage/status-widget@1.0.5"
AXE_CORE = "axe-core@4.11.0"
PINNED = (STATUS_WIDGET, AXE_CORE)  # installed together: a later `npm install` prunes what it was not given


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("STATUS_FANOUT_ALONE") or os.environ.get("CI"):
        pytest.fail(f"{reason}; CI has npm, so these tests must run there")
    pytest.skip(reason)


def _installed(spec: str) -> bool:
    name, _, version = spec.rpartition("@")
    manifest = CACHE / "node_modules" / name / "package.json"
    try:
        return json.loads(manifest.read_text())["version"] == version
    except (OSError, ValueError, KeyError):
        return False


def npm_package(spec: str) -> Path:
    """The folder of `name@version` (one of PINNED), installed into CACHE on first use; skips the test
    without npm."""
    assert spec in PINNED, spec
    name = spec.rpartition("@")[0]
    if not all(map(_installed, PINNED)):
        npm = shutil.which("npm")
        if npm is None:
            _unavailable(f"npm is not on PATH, so {spec} cannot be installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        # Test runs in parallel share the cache: one installs at a time.
        with open(CACHE / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not all(map(_installed, PINNED)):
                try:
                    subprocess.run(  # npm from PATH, fixed arguments
                        [npm, "install", "--prefix", str(CACHE), "--no-save", "--no-package-lock", "--no-audit",
                         "--no-fund", "--silent", *PINNED], cwd=CACHE, check=True, timeout=300,
                        capture_output=True)
                except (subprocess.SubprocessError, OSError) as failed:
                    detail = getattr(failed, "stderr", b"") or b""
                    _unavailable(f"npm could not install {spec}: {failed} {detail.decode(errors='replace')[-500:]}")
    assert _installed(spec), spec
    return CACHE / "node_modules" / name
