"""Bookkeeping off the critical path: each executed notebook is rendered to HTML (full and report mode) in a
background thread while the next task runs. The loop applies finished renderings to the manifest and the
reuse cache between tasks (only the loop's thread touches them), and a run ends only once every rendering it
owes is written. A rendering that fails is recorded as ``html_error`` (the run page shows it) and never
changes a task's outcome."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aapl_lib.store import layout
from aapl_lib.store.run_record import TaskRecord


def settle_render_imports() -> None:
    """Call before drawing a matplotlib ``Figure`` in the runner's own process while pages may be rendering.

    The rendering thread imports IPython on the way (nbconvert's exporters). ``Figure()`` looks at
    ``sys.modules["IPython"]`` without importing it, and on a module the other thread has only half imported it
    fails (``partially initialized module 'IPython' has no attribute 'version_info'``), failing the run. An
    ``import`` here waits on Python's import lock until that import is complete (or does it first)."""
    import IPython  # noqa: F401


def _render(executed: Path, html_dir: Path) -> dict[str, str]:
    from aapl_lib.views.render import render_both

    full, report = render_both(executed, html_dir)
    return {"html": layout.html_rel(full), "report_html": layout.html_rel(report)}


@dataclass
class _Pending:
    record: TaskRecord
    future: Future
    cache_key: str | None = None
    cache_entry: dict[str, Any] | None = None


@dataclass
class BackgroundRenders:
    """The renderings a run has started and not yet applied."""

    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="render"))
    pending: list[_Pending] = field(default_factory=list)

    def submit(self, record: TaskRecord, executed: Path, run_dir: Path) -> None:
        """Render ``executed`` into ``run_dir/html``; the result goes into ``record`` when applied."""
        self.pending.append(_Pending(record, self.pool.submit(_render, executed, layout.html_dir(run_dir))))

    def remember_cache_entry(self, record: TaskRecord, key: str, entry: dict[str, Any]) -> bool:
        """Record ``record``'s task in the reuse cache once its pages are written (one locked write, with the
        HTML paths); False when no rendering of it is pending (the caller records it now)."""
        for item in self.pending:
            if item.record is record:
                item.cache_key, item.cache_entry = key, entry
                return True
        return False

    def apply(self, cache=None, wait: bool = False) -> bool:
        """Put finished renderings (all of them with ``wait``) into their records and cache entries; True
        when something changed (the caller saves the manifest)."""
        changed = False
        for item in list(self.pending):
            if not (wait or item.future.done()):
                continue
            try:
                item.record.rendered(item.future.result())
            except Exception as exc:  # noqa: BLE001 - reported, never the task's outcome
                item.record.render_failed(f"{type(exc).__name__}: {exc}")
            if cache is not None and item.cache_entry is not None:
                cache.record(
                    item.cache_key, {**item.cache_entry, **{k: item.record.get(k) for k in ("html", "report_html")}}
                )
            self.pending.remove(item)
            changed = True
        return changed

    def close(self) -> None:
        self.pool.shutdown(wait=True)
