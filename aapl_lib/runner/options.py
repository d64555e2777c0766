"""The options of a run (how to run, not what: that is the params), read by the loop, the planning, the
approval gate and one task's execution."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aapl_lib.runner.renders import BackgroundRenders
from aapl_lib.store.reuse_cache import ReuseCache


@dataclass
class RunOptions:
    """How to run (not what: that is the params)."""

    outputs_dir: Path
    notebooks_dir: Path
    project: Path | None = None
    log_level: str = "INFO"
    force: bool = False
    force_tasks: tuple[str, ...] = ()
    progress: Callable[[str], None] = print
    today: dt.date | None = None
    _cache: ReuseCache | None = field(default=None, repr=False)
    renders: BackgroundRenders | None = field(default=None, repr=False)  # set while a run executes
    next_kernel: Any = field(default=None, repr=False)  # a kernel started ahead (runner.kernels.manager.NextKernel)
    more_to_run: bool = False  # whether the run has tasks after the current one (worth a kernel started ahead)
    # on_success / on_failure as the operator gave them at the start of this run or resume (pipeline.trust):
    # never read back from a manifest
    hooks: dict[str, str] = field(default_factory=dict)
