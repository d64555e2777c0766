"""Where the project is: the folder holding ``runner.py`` and ``notebooks/``, where its outputs go unless told
otherwise, and the modules an analyst keeps there (found without importing them). What lies inside the outputs
folder is :mod:`aapl_lib.store.layout`'s."""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path


def project_root(start: Path | None = None) -> Path | None:
    """The project folder (holding ``runner.py`` and ``notebooks/``) at or above ``start`` (cwd by default),
    else the one containing this package; None when neither is found."""
    for base in [Path(start or Path.cwd()).resolve(), Path(__file__).resolve().parents[1]]:
        for candidate in [base, *base.parents]:
            if (candidate / "runner.py").is_file() and (candidate / "notebooks").is_dir():
                return candidate
    return None


OUTPUTS_ENV = "AAPL_OUTPUTS_DIR"  # the outputs folder, when not the project's own (tests, cron, --outputs)


def outputs_root() -> Path:
    """Where runs are written: ``$AAPL_OUTPUTS_DIR``, else ``<project>/outputs``, else ``./outputs``."""
    if os.environ.get(OUTPUTS_ENV):
        return Path(os.environ[OUTPUTS_ENV]).expanduser().resolve()
    root = project_root()
    return (root / "outputs") if root else (Path.cwd() / "outputs").resolve()


def search_path() -> list[str]:
    """``sys.path`` with the project root first (where an analyst keeps ``my_features.py``)."""
    root = project_root()
    paths = [p if p else str(Path.cwd()) for p in sys.path]
    if root is not None and str(root) not in paths:
        paths.insert(0, str(root))
    return paths


def module_source(module: str) -> Path | None:
    """The source file of the dotted ``module`` on :func:`search_path`, found without executing it; None
    when there is none."""
    path: list[str] | None = search_path()
    found = None
    for part in module.split("."):
        found = importlib.machinery.PathFinder.find_spec(part, path)
        if found is None:
            return None
        path = list(found.submodule_search_locations or [])
    if found is None or not found.origin or not Path(found.origin).is_file():
        return None
    return Path(found.origin)
