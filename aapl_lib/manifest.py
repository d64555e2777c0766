"""The run manifest (``manifest.json``): resolved params, per-task status/timing/artifacts/scraps and the
environment. Always rewritten whole and atomically, so a reader never sees half a file."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .iorw import read_json, sha256_file, write_json

KEY_PACKAGES = ("papermill", "scrapbook", "nbformat", "nbclient", "nbconvert", "ipykernel", "pandas", "numpy",
                "scikit-learn", "scipy", "matplotlib", "joblib", "yfinance", "tenacity", "bokeh_sampledata",
                "fpdf2", "PyYAML")


def utc_now() -> str:
    """Current UTC time, ISO 8601, seconds."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def package_versions() -> dict[str, str]:
    """Installed versions of the key packages."""
    out = {}
    for pkg in KEY_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_commit(root: Path | None) -> str:
    """The project's git commit (with ``+dirty`` for uncommitted changes), or ``unknown``."""
    if root is None:
        return "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(root: Path | None) -> dict[str, Any]:
    """Python, platform, package versions and git commit."""
    return {"python": platform.python_version(), "executable": sys.executable, "platform": platform.platform(),
            "packages": package_versions(), "git_commit": git_commit(root)}


def artifact_records(run_dir: Path, relatives: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``{relative path: {sha256, bytes}}`` for the files that exist."""
    out = {}
    for rel in relatives:
        path = run_dir / rel
        if path.is_file():
            out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def save(run_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically."""
    manifest["updated_at"] = utc_now()
    return write_json(run_dir / "manifest.json", manifest)


def load(run_dir: Path) -> dict[str, Any]:
    """Read a run's manifest."""
    return read_json(run_dir / "manifest.json")
