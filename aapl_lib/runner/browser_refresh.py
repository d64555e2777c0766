"""The run browser rebuilt after the runner changed a run's record (a run ended, a person decided)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def refresh_browser(outputs_dir: Path, run_dir: Path | None, progress: Callable[[str], None] = print) -> None:
    """Rebuild the run browser pages; a failure here is reported, never fatal to the run."""
    try:
        from aapl_lib.views.browser import refresh

        refresh(outputs_dir, run_dir)
    except Exception as exc:  # the browser is a view: the run's own result stands
        progress(f"warning: could not rebuild the run browser: {type(exc).__name__}: {exc}")
