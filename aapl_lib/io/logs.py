"""Logging in the pipeline's format: ``[TIMESTAMP] [TASK] [LEVEL] MESSAGE``."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

FORMAT = "[%(asctime)s] [%(task)s] [%(levelname)s] %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%SZ"


class TaskFormatter(logging.Formatter):
    """UTC timestamps and a task name on every line (``pipeline`` when a record has none)."""

    converter = time.gmtime

    def __init__(self, task: str = "pipeline") -> None:
        super().__init__(FORMAT, DATEFMT)
        self.task = task

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "task"):
            record.task = self.task
        return super().format(record)


def file_handler(path: str | Path, task: str = "pipeline", level: int = logging.DEBUG) -> logging.Handler:
    """A handler appending formatted lines to ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(TaskFormatter(task))
    handler.setLevel(level)
    return handler


def configure_console(level: str | int = "INFO", task: str = "pipeline") -> logging.Handler:
    """Send ``aapl_lib`` logs to stderr in the pipeline format (idempotent)."""
    logger = logging.getLogger("aapl_lib")
    for h in list(logger.handlers):
        if getattr(h, "_aapl_console", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TaskFormatter(task))
    handler._aapl_console = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level if isinstance(level, int) else getattr(logging, str(level).upper()))
    logger.propagate = False
    return handler
