"""The lines the runner writes outside the manifest: one in a task's log (``runs/<id>/logs/<task>.log``) or
in the summary log of every run (``logs/pipeline_summary.log``), in the pipeline's log format."""

from __future__ import annotations

import logging
from pathlib import Path

from aapl_lib.io.logs import TaskFormatter
from aapl_lib.store import layout


def _format(task: str, level: int, message: str) -> str:
    record = logging.LogRecord("aapl_lib.runner", level, "", 0, message, None, None)
    record.task = task
    return TaskFormatter(task).format(record)


def append(path: Path, task: str, level: int, message: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(_format(task, level, message) + "\n")


def summary_line(outputs_dir: Path, task: str, message: str, level: int = logging.INFO) -> None:
    append(layout.summary_log(outputs_dir), task, level, message)
