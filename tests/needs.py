"""Tools some promises need to be proven, and whether this machine has them.

A test marked ``@pytest.mark.needs("chromium")`` runs only where the tool really works; elsewhere it is skipped
with the reason, and the session ends with a loud list of the promises left unproven (tests/conftest.py). Any
other skip fails the session when ``AAPL_TESTS_STRICT_SKIPS=1`` (.ci/run sets it): a skip there would hide a
promise for no reason the machine can name.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNPROVEN = "PROMISE NOT PROVEN ON THIS MACHINE"


def chromium() -> str | None:
    """The headless browser the pages are rendered with, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@functools.cache
def _tmpfs_mount_error() -> str | None:
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root (run the suite as root, or in a VM/container that allows mount)"
    with tempfile.TemporaryDirectory() as probe:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], capture_output=True, text=True
        )
        if mounted.returncode != 0:
            return f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'})"
        subprocess.run(["umount", probe], check=True)
    return None


def _missing(tool: str) -> str | None:
    """Why ``tool`` does not work here, or None when it does."""
    if tool == "chromium":
        return None if chromium() else "headless Chromium is not installed (Debian 'chromium'; .ci/run installs it)"
    if tool == "systemd-analyze":
        return None if shutil.which("systemd-analyze") else "systemd-analyze is not installed (Debian 'systemd')"
    if tool == "tmpfs":
        return _tmpfs_mount_error()
    if tool == "venv":
        venv = ROOT / ".venv" / "bin" / "python"
        return None if venv.exists() else f"the project's .venv is not built ({venv}; `make .venv/.installed-stamp`)"
    raise ValueError(f"unknown tool {tool!r} in a needs() mark")


def missing(tool: str) -> str | None:
    """The skip reason for a test that needs ``tool``, or None when the tool works here."""
    why = _missing(tool)
    return None if why is None else f"{UNPROVEN}: needs {tool}: {why}"


def strict_skips() -> bool:
    return os.environ.get("AAPL_TESTS_STRICT_SKIPS") == "1"


__all__ = ["UNPROVEN", "chromium", "missing", "strict_skips"]
