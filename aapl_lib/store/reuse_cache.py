"""The reuse cache: which earlier run produced a successful task with a given fingerprint.

``outputs/cache/index.json`` maps fingerprint -> {run_id, task, artifacts (relative path -> sha256),
executed notebook, html, scraps}. Entries are only trusted after every file still matches its sha256, and only
when every name in them is a plain run id and plain relative paths inside that run's folder: the index is data
that may be hostile, and a path it names is copied into the new run (``..`` there would write anywhere).
Reads need no lock (the index is replaced atomically); writes take ``outputs/cache/index.lock``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from aapl_lib.errors import UntrustedFileError
from aapl_lib.io.containment import inside, plain_name
from aapl_lib.io.iorw import read_json, sha256_file, write_json
from aapl_lib.io.locks import PathLock
from aapl_lib.store import layout


class ReuseCache:
    """The index of reusable task results below an outputs folder."""

    def __init__(self, outputs_dir: Path, lock_timeout: float = 10.0) -> None:
        self.outputs_dir = Path(outputs_dir)
        self.dir = layout.cache_dir(self.outputs_dir)
        self.index_path = self.dir / "index.json"
        self.lock_timeout = lock_timeout

    def _read(self) -> dict[str, Any]:
        try:
            return read_json(self.index_path)
        except (OSError, ValueError):
            return {}

    def lookup(self, fingerprint: str) -> dict[str, Any] | None:
        """The verified entry for ``fingerprint``, or None (missing, or its files changed or vanished)."""
        entry = self._read().get(fingerprint)
        if not entry:
            return None
        try:
            run_dir = self._source(entry)
        except (UntrustedFileError, TypeError, AttributeError, KeyError) as exc:
            logging.getLogger("aapl_lib.runner").warning("reuse cache entry %s ignored: %s", fingerprint[:12], exc)
            return None
        for rel, sha in entry["artifacts"].items():
            path = run_dir / rel
            if not path.is_file() or sha256_file(path) != sha:
                return None
        return entry

    def _source(self, entry: dict[str, Any]) -> Path:
        """The run folder an entry names, once its run id and every path in it are plain names inside that
        folder (symlinks followed); an UntrustedFileError otherwise."""
        what = f"the reuse cache {self.index_path}"
        runs = layout.runs_dir(self.outputs_dir)
        run_dir = inside(runs, plain_name(entry["run_id"], what), what)
        for rel in [*entry["artifacts"], *(entry.get(k) for k in ("notebook", "html", "report_html"))]:
            if rel is not None:
                inside(run_dir, rel, what)
        return run_dir

    def lock(self) -> PathLock:
        return PathLock(self.dir / "index.lock", "the reuse cache " + str(self.dir), self.lock_timeout)

    def record(self, fingerprint: str, entry: dict[str, Any]) -> None:
        """Add or replace one entry (under the cache lock)."""
        with self.lock():
            index = self._read()
            index[fingerprint] = entry
            write_json(self.index_path, index)

    def forget_runs(self, run_ids: set[str]) -> int:
        """Drop every entry that points at one of ``run_ids``; return how many."""
        with self.lock():
            index = self._read()
            keep = {fp: e for fp, e in index.items() if e.get("run_id") not in run_ids}
            if len(keep) != len(index):
                write_json(self.index_path, keep)
            return len(index) - len(keep)


def copy_artifact(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically. A copy, not a hard link: the pipeline replaces files, but a person
    editing a reused file in place (pandas' ``to_csv``, an editor) would otherwise change the earlier run too,
    behind its recorded sha256. A run's files are a few MB, so the copy costs milliseconds."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)
