"""The run manifest (``manifest.json``): resolved params, per-task status/timing/artifacts/scraps and the
environment, read as a dict for the views and commands; written only by :class:`aapl_lib.store.run_record.
RunRecord` (whole and atomically, so a reader never sees half a file)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from aapl_lib.errors import CorruptStateError
from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.iorw import read_json, sha256_file, write_json
from aapl_lib.pipeline.states import BATCH_UNFINISHED, UNFINISHED, State
from aapl_lib.store import layout

KEY_PACKAGES = (
    "papermill",
    "scrapbook",
    "nbformat",
    "nbclient",
    "nbconvert",
    "ipykernel",
    "pandas",
    "numpy",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "joblib",
    "skops",
    "yfinance",
    "tenacity",
    "bokeh_sampledata",
    "exchange_calendars",  # the NYSE sessions: a new version can change which rows cleaning keeps
    "fpdf2",
    "PyYAML",
)


def package_versions(cache: Path | None = None) -> dict[str, str]:
    """Installed versions of the key packages; with ``cache``, read from it while the interpreter's package
    folders are unchanged (an install, upgrade or removal changes a folder's modification time) — reading the
    installed metadata costs more than everything else a rerun with nothing changed does."""
    key = [sys.executable, *KEY_PACKAGES, *_package_folders()]  # a package added to the list misses the cache
    try:
        cached = read_json(cache) if cache is not None else None
    except (OSError, ValueError):
        cached = None  # none yet, or damaged: read the metadata and write it again
    if (
        isinstance(cached, dict)
        and cached.get("key") == key
        and isinstance(cached.get("packages"), dict)
        and set(cached["packages"]) == set(KEY_PACKAGES)  # a cache from before a package was added is stale
    ):
        return cached["packages"]
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in KEY_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    if cache is not None:
        try:
            write_json(cache, {"key": key, "packages": out})
        except OSError:
            pass  # a cache that cannot be written is read fresh next time
    return out


def _package_folders() -> list[str]:
    found = []
    for folder in sys.path:
        if folder.endswith(("site-packages", "dist-packages")):
            try:
                found.append(f"{folder}@{os.stat(folder).st_mtime_ns}")
            except OSError:
                continue
    return found


def git_commit(root: Path | None) -> str:
    """The project's git commit (with ``+dirty`` for uncommitted changes), or ``unknown``."""
    if root is None:
        return "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(root: Path | None, outputs_dir: Path | None = None) -> dict[str, Any]:
    """Python, platform, package versions (cached under ``outputs_dir``) and git commit."""
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": package_versions(layout.environment_cache(outputs_dir) if outputs_dir else None),
        "git_commit": git_commit(root),
    }


def artifact_records(run_dir: Path, relatives: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``{relative path: {sha256, bytes}}`` for the files that exist."""
    out = {}
    for rel in relatives:
        path = run_dir / rel
        if path.is_file():
            out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


# A run in one of these states can be continued with ``resume``; ``interrupted`` is not written by a runner
# that was killed: it is what a ``running`` manifest whose lock no live process holds means.


def load(run_dir: Path) -> dict[str, Any]:
    """Read a run's manifest; a damaged one is a CorruptStateError naming the file and what to do."""
    path = Path(run_dir) / layout.MANIFEST
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptStateError(
            f"{path} is damaged (not valid JSON: {exc}); the run's record cannot be read: "
            f"delete the folder {Path(run_dir)} (its results are lost) or restore the file "
            "from a backup, then run again"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict) or "params" not in data:
        raise CorruptStateError(
            f"{path} is damaged (it lacks the run's params or tasks): delete the folder "
            f"{Path(run_dir)} or restore the file from a backup, then run again"
        )
    return data


def effective_status(run_dir: Path, manifest: dict[str, Any]) -> str:
    """The run's status as a person should read it: ``interrupted`` for a manifest that says ``running``
    while no live process holds the run's lock (the runner was killed or the machine stopped)."""
    from aapl_lib.io.locks import is_held

    status = str(manifest.get("status", "?"))
    if status == State.RUNNING and not is_held(Path(run_dir) / ".lock"):
        return State.INTERRUPTED
    return status


def as_read(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as ``status``, ``list`` and the run browser show it: a ``running`` run whose lock no live
    process holds is ``interrupted`` (and so is the task it was running), with ``resume``, the command that
    continues it. The file itself is not changed."""
    status = effective_status(run_dir, manifest)
    if status == State.INTERRUPTED and manifest.get("status") == State.RUNNING:
        manifest = {
            **manifest,
            "tasks": {
                name: ({**rec, "status": State.INTERRUPTED} if rec.get("status") == State.RUNNING else rec)
                for name, rec in manifest["tasks"].items()
            },
        }
    hint = resume_hint(manifest["run_id"], status, manifest.get("batch_id"), layout.outputs_of(run_dir))
    return {**manifest, "status": status, "resume": hint}


def resume_hint(run_id: str, status: str, batch_id: str | None = None, outputs_dir: Path | None = None) -> str:
    """The command that continues a run in ``status`` (empty when there is nothing to do), pasteable for the
    outputs folder it lies in; a batch's run is continued with its batch."""
    target = batch_id or run_id
    if status == State.AWAITING_APPROVAL:
        approve = follow_up(f"approve {run_id} --by NAME", outputs_dir)
        return f"{approve} (or reject), then {follow_up(f'resume {target}', outputs_dir)}"
    return follow_up(f"resume {target}", outputs_dir) if status in UNFINISHED else ""


def list_batches(outputs_dir: Path) -> list[dict[str, Any]]:
    """Every batch's manifest, newest first, with ``status`` as a person should read it (``interrupted`` when
    it says running but no live process holds its lock) and ``resume``, the command that continues it."""
    from aapl_lib.io.locks import is_held

    found = []
    for path in layout.batch_manifests(outputs_dir):
        try:
            manifest = read_json(path)
        except (OSError, ValueError):
            continue
        if manifest.get("status") == State.RUNNING and not is_held(path.parent / ".lock"):
            manifest["status"] = State.INTERRUPTED
        manifest["resume"] = (
            follow_up(f"resume {manifest['batch_id']}", outputs_dir)
            if manifest.get("status") in BATCH_UNFINISHED
            else ""
        )
        found.append(manifest)
    return found
