"""Progress on the console, the way tqdm shows it: the one owner of how a command reports work in progress,
used by the run loop (one live line per running task), the batch loop (tickers) and ``replay`` (days).

Three modes, chosen once per command (:meth:`Console.for_command`):

- a terminal (stderr is a tty): a live line per running task with its elapsed time, and a bar with an ETA
  where the work has a known size (a batch's tickers, replay's days, a download's retry attempts and their
  wait), all on stderr and redrawn in place; finished lines are written above them (``tqdm.write``);
- not a terminal (cron, CI, a pipe): plain lines only — no carriage return, no escape code — at most one per
  unit of work, each flushed at once so a log shows it when it happens;
- quiet (``--quiet``, for schedulers): warnings only (to stderr); the command prints its one-line outcome.

A :class:`Console` is the ``progress`` callable the runner takes (``console(line)`` prints a finished line);
code that runs without one (a batch worker, a library caller passing ``print``) gets no live line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from aapl_lib.io.logs import relogged

REFRESH_S = 1.0  # how often a live line's elapsed time and a bar's ETA are redrawn
BAR = "{desc} {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt} {unit}s [{elapsed}<{remaining}{postfix}]"
TASK_LINE = "{desc} running {elapsed}{postfix}"
RETRY_BAR = "{desc} running {elapsed} |{bar:12}| {n_fmt}/{total_fmt} attempts failed{postfix}"
# what the yfinance source logs before it waits for its next attempt (aapl_lib.data.sources.yahoo._log_retry);
# the kernel's log lines reach the runner through papermill's logger
RETRY = re.compile(r"yfinance attempt (?P<attempt>\d+) failed \((?P<why>.*)\); retrying in (?P<wait>[\d.]+) s")


def spoken_duration(seconds: float) -> str:
    """``41 s``, ``1 min 20 s``, ``2 h 5 min``: a duration as a person says it (whole seconds)."""
    seconds = round(max(seconds, 0.0))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def is_warning(line: str) -> bool:
    """A progress line that is a warning (``warning: …``): shown even with ``--quiet``."""
    return line.lower().startswith("warning")


class Console:
    """Where one command's progress goes (see the module's docstring for the three modes). ``out`` and ``err``
    default to the current ``sys.stdout`` and ``sys.stderr``; ``live`` to whether ``err`` is a terminal."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        live: bool | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.quiet = quiet
        self.live = not quiet and (_isatty(self.err) if live is None else live)
        self.refresh_s = refresh_s
        self._relays: list[tuple[subprocess.Popen, list[threading.Thread]]] = []

    @classmethod
    def for_command(cls, quiet: bool = False) -> Console:
        """The console of a command run from the command line (``--quiet`` given or not)."""
        return cls(quiet=quiet)

    def __call__(self, line: str) -> None:
        """A finished line of progress (stdout, as ever); with ``--quiet`` only a warning, to stderr."""
        if self.quiet:
            if is_warning(line):
                self._write(line, self.err)
            return
        self._write(line, self.out)

    def warning(self, line: str) -> None:
        """A warning, to stderr, in every mode."""
        self._write(line, self.err)

    def _write(self, line: str, stream: TextIO) -> None:
        self._drain_children()
        if self.live:
            from tqdm import tqdm

            tqdm.write(line, file=stream)  # above the live lines, which are redrawn below it
        else:
            print(line, file=stream, flush=True)

    @contextlib.contextmanager
    def task(self, label: str, attempts: int | None = None) -> Iterator[LiveTask]:
        """While a task runs: on a terminal a live line ``label`` with its elapsed time. A download's retry (its
        log line, :data:`RETRY`) is a warning line in every mode and, on a terminal, a bar of ``attempts`` with
        the wait before the next one."""
        live = LiveTask(self, label.rstrip(), attempts)
        watch = _RetryWatch(live)
        papermill = logging.getLogger("papermill")
        papermill.addHandler(watch)
        try:
            with self._redrawn(live.bar, live.render):
                yield live
        finally:
            papermill.removeHandler(watch)

    @contextlib.contextmanager
    def units(self, total: int, noun: str) -> Iterator[Units]:
        """Work of known size (``total`` ``noun``s: tickers, days): on a terminal a bar with an ETA; in every
        mode but quiet one line per finished unit, saying how much time is left (:meth:`Units.finished`)."""
        bar = self._bar(total=total, desc=f"{noun}s", unit=noun, bar_format=BAR)
        units = Units(self, total, noun, bar)
        with self._redrawn(bar, lambda: None):
            yield units

    @contextlib.contextmanager
    def _redrawn(self, bar: Any, render: Callable[[], None]) -> Iterator[None]:
        """Redraw ``bar`` (after ``render`` updates it) every ``refresh_s`` until the block ends; then clear it."""
        if bar is None:
            yield
            return
        stop = threading.Event()

        def redraw() -> None:
            while not stop.wait(self.refresh_s):
                render()
                bar.refresh()

        thread = threading.Thread(target=redraw, name="progress-redraw", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            bar.close()

    def _bar(self, **kwargs: Any) -> Any:
        """A tqdm line on stderr, or None when this console draws none."""
        if not self.live:
            return None
        from tqdm import tqdm

        # smoothing 0: the ETA from the average rate, as the plain lines compute it. A terminal that reports no
        # width (a pseudo-terminal nobody sized) would get an empty line: it gets a fixed width instead
        sized = _columns(self.err) > 0
        width = {"dynamic_ncols": True} if sized else {"ncols": 100, "nrows": 20}
        return tqdm(file=self.err, leave=False, smoothing=0, mininterval=0, **width, **kwargs)

    def start_child(self, command: list[str], **popen: Any) -> subprocess.Popen:
        """Start ``command`` (a ``runner.py`` of its own, as replay starts one per day). On a terminal its
        output is relayed line by line above the bars (its own stdout to stdout, stderr to stderr); quiet drops
        its stdout (its outcome line: the command prints its own); otherwise it writes where this process does."""
        if self.quiet:
            return subprocess.Popen(command, stdout=subprocess.DEVNULL, **popen)
        if not self.live:
            return subprocess.Popen(command, **popen)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
        threads = [
            threading.Thread(target=self._relay, args=(pipe, stream), daemon=True)
            for pipe, stream in ((proc.stdout, self.out), (proc.stderr, self.err))
        ]
        for thread in threads:
            thread.start()
        self._relays.append((proc, threads))
        return proc

    def _relay(self, pipe: TextIO, stream: TextIO) -> None:
        from tqdm import tqdm

        for line in pipe:
            tqdm.write(line.rstrip("\n"), file=stream)

    def _drain_children(self) -> None:
        """Wait for the rest of an ended child's output, so a line written now comes after it."""
        for proc, threads in list(self._relays):
            if proc.poll() is not None:
                for thread in threads:
                    thread.join(timeout=5)
                self._relays.remove((proc, threads))


class LiveTask:
    """One running task's live line (on a terminal), and its download's retries."""

    def __init__(self, console: Console, label: str, attempts: int | None) -> None:
        self.console, self.label, self.attempts = console, label, attempts
        self.failed = 0
        self.retry_at: float | None = None
        self.bar = console._bar(desc=label, bar_format=TASK_LINE)

    def retrying(self, attempt: int, why: str, wait_s: float) -> None:
        """Attempt ``attempt`` of the download failed (``why``); the next starts in ``wait_s`` seconds."""
        self.failed = attempt
        self.retry_at = time.monotonic() + wait_s
        of = f" of {self.attempts}" if self.attempts else ""
        self.console.warning(
            f"warning: {self.label}: yfinance attempt {attempt}{of} failed ({why}); retrying in {wait_s:.1f} s"
        )
        self.render()
        if self.bar is not None:
            self.bar.refresh()

    def render(self) -> None:
        """Update the live line: after a failed attempt, a bar of the attempts and the wait for the next."""
        if self.bar is None or self.retry_at is None:
            return
        if self.attempts and self.bar.total != self.attempts:
            self.bar.total = self.attempts
            self.bar.bar_format = RETRY_BAR
        self.bar.n = self.failed
        left = self.retry_at - time.monotonic()
        self.bar.set_postfix_str(f"next in {left:.0f} s" if left > 0 else "trying again", refresh=False)


class _RetryWatch(logging.Handler):
    """papermill's log of the kernel's output, read for the download's retry lines."""

    def __init__(self, task: LiveTask) -> None:
        super().__init__(logging.DEBUG)
        self.task = task

    def emit(self, record: logging.LogRecord) -> None:
        for part in relogged(record):
            found = RETRY.search(part.getMessage())
            if found:
                self.task.retrying(int(found["attempt"]), found["why"], float(found["wait"]))


class Units:
    """A batch's tickers or replay's days: finished one by one, each reported with the time left."""

    def __init__(self, say: Callable[[str], None], total: int, noun: str, bar: Any = None) -> None:
        self.say, self.total, self.noun, self.bar = say, total, noun, bar
        self.done = 0
        self.started = time.monotonic()

    def working_on(self, what: str) -> None:
        """Name the unit now running on the bar (a terminal only)."""
        if self.bar is not None:
            self.bar.set_postfix_str(what)

    def finished(self, name: str, outcome: str, seconds: float, note: str = "") -> str:
        """Report a finished unit (``ticker 2/4 MSFT ok in 41 s; about 1 min 20 s left``, then `` — note``
        when one is given) and return the line."""
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = self.total - self.done
        if left:
            tail = f"about {spoken_duration(elapsed / self.done * left)} left"
        else:
            tail = f"all {self.total} done in {spoken_duration(elapsed)}"
        line = f"{self.noun} {self.done}/{self.total} {name} {outcome} in {spoken_duration(seconds)}; {tail}"
        line += f" — {note}" if note else ""
        self.say(line)
        if self.bar is not None:
            self.bar.update(1)
        return line


@contextlib.contextmanager
def task_line(progress: Callable[[str], None], label: str, attempts: int | None = None) -> Iterator[LiveTask | None]:
    """:meth:`Console.task` when ``progress`` is a :class:`Console`; nothing otherwise (a batch worker's run,
    a library caller's ``print``)."""
    if isinstance(progress, Console):
        with progress.task(label, attempts) as live:
            yield live
    else:
        yield None


@contextlib.contextmanager
def units(progress: Callable[[str], None], total: int, noun: str) -> Iterator[Units]:
    """:meth:`Console.units` when ``progress`` is a :class:`Console`; otherwise the same lines given to
    ``progress``, without a bar."""
    if isinstance(progress, Console):
        with progress.units(total, noun) as counted:
            yield counted
    else:
        yield Units(progress, total, noun)


class Counted:
    """``items`` (replay's days) iterated the way tqdm wraps an iterable: a bar with an ETA on a terminal, the
    item being worked on named on it; the loop reports each item with :meth:`finished`. The bar is cleared
    when the loop ends, however it ends."""

    def __init__(self, progress: Callable[[str], None], items: list[Any], noun: str) -> None:
        self.progress, self.items, self.noun = progress, items, noun
        self.units: Units | None = None

    def __iter__(self) -> Iterator[Any]:
        with units(self.progress, len(self.items), self.noun) as self.units:
            for item in self.items:
                self.units.working_on(str(item))
                yield item

    def finished(self, name: str, outcome: str, seconds: float, note: str = "") -> str:
        """:meth:`Units.finished` for the item the loop is on."""
        assert self.units is not None, "finished() is called inside the loop"
        return self.units.finished(name, outcome, seconds, note)


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to; 0 when it reports none."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not a file (a test's stream), or no size
        return 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False
