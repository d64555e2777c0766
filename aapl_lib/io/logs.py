"""Logging in the pipeline's format: ``[TIMESTAMP] [TASK] [LEVEL] MESSAGE``."""

from __future__ import annotations

import calendar
import logging
import re
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


# a line already in FORMAT: what a notebook's kernel logs (aapl_lib.step sends it to the kernel's stderr)
LINE = re.compile(
    r"^\[(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] \[(?P<task>[^\]]*)\] "
    r"\[(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\] (?P<message>.*)$"
)


def relogged(record: logging.LogRecord) -> list[logging.LogRecord]:
    """``record`` as the lines it carries: papermill logs a cell's stderr as one WARNING, and a kernel's own log
    lines arrive that way, already in :data:`FORMAT`; each of those becomes a record at its own level, time
    and task (the lines after it that are not in the format, such as a traceback, stay with it). A record
    without such lines is returned as it is."""
    lines = record.getMessage().splitlines()
    if not any(LINE.match(line) for line in lines):
        return [record]
    out: list[logging.LogRecord] = []
    before: list[str] = []  # lines ahead of the first formatted one keep the record's own level
    for line in lines:
        found = LINE.match(line)
        if found:
            level = logging.getLevelName(found["level"])
            part = logging.makeLogRecord({**record.__dict__, "msg": found["message"], "args": None})
            part.levelno, part.levelname, part.task = level, found["level"], found["task"]
            part.created = calendar.timegm(time.strptime(found["time"], DATEFMT))
            out.append(part)
        elif out:
            out[-1].msg += "\n" + line
        else:
            before.append(line)
    if any(before):
        out.insert(0, logging.makeLogRecord({**record.__dict__, "msg": "\n".join(before), "args": None}))
    return out


class TaskLogHandler(logging.FileHandler):
    """A task's log file: every line once in :data:`FORMAT`, a kernel's own lines at their own level (not
    papermill's ``[WARNING] [time] [task] [INFO] …``), those below the handler's level left out."""

    def emit(self, record: logging.LogRecord) -> None:
        for part in relogged(record):
            if part.levelno >= self.level:
                super().emit(part)


def file_handler(path: str | Path, task: str = "pipeline", level: int = logging.DEBUG) -> logging.Handler:
    """A handler appending formatted lines to ``path`` (folders created); lines a record carries that are
    already in the pipeline's format keep their own level (:func:`relogged`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = TaskLogHandler(path, encoding="utf-8")
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
