"""Locks on a run folder and on the shared reuse cache (filelock: an OS-level lock the kernel releases when
its process dies, so a lock left by a killed runner never blocks anyone).

Next to each lock file a small JSON names its holder (pid, host, since); a second runner that finds the
lock busy says who holds it, and a runner that takes over after a dead one says so.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from aapl_lib.errors import PipelineError
from aapl_lib.io.iorw import utc_now, write_json

log = logging.getLogger("aapl_lib.io.locks")


class LockBusyError(PipelineError):
    """Another live runner holds the lock (exit code 4)."""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is alive (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_held(lock_path: Path) -> bool:
    """True when some live process holds the lock at ``lock_path`` (the OS releases a dead holder's lock, so a
    run whose manifest says ``running`` but whose lock is free was interrupted)."""
    lock_path = Path(lock_path)
    if not lock_path.exists():
        return False
    probe = FileLock(str(lock_path), timeout=0)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:  # a read-only outputs folder: treat as not held (nothing can run there anyway)
        return False
    probe.release()
    return False


class PathLock:
    """``with PathLock(folder / ".lock", "run X"):`` — exclusive, non-reentrant across processes."""

    def __init__(self, lock_path: Path, what: str, timeout: float = 0.0) -> None:
        self.lock_path = Path(lock_path)
        self.owner_path = self.lock_path.with_name(self.lock_path.name + ".owner.json")
        self.what = what
        self.timeout = timeout
        self.took_over: dict[str, Any] | None = None
        self._lock = FileLock(str(self.lock_path), timeout=timeout)

    def holder(self) -> dict[str, Any] | None:
        """The recorded holder, if any."""
        try:
            return json.loads(self.owner_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def acquire(self) -> PathLock:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=self.timeout)
        except Timeout:
            holder = self.holder() or {}
            who = (
                f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
                if holder
                else "another process"
            )
            raise LockBusyError(
                f"{self.what} is locked by {who}: wait for that runner to finish (or stop it) and try again"
            ) from None
        previous = self.holder()
        if previous and previous.get("host") == socket.gethostname() and not pid_alive(int(previous["pid"])):
            self.took_over = previous
            log.warning("took over the lock of %s left by dead process %s", self.what, previous["pid"])
        write_json(self.owner_path, {"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now()})
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            self.owner_path.unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> PathLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
