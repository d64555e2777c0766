"""The fork server behind warm kernels: one process imports the heavy stack once, then forks a fresh kernel for
each notebook.

``python -m aapl_lib.runner.kernels.fork_server SOCKET PARENT_PID IDLE_S`` listens on the Unix socket ``SOCKET``,
imports :data:`PRELOAD` (requests wait in the socket's backlog meanwhile) and, for each request of a kernel
launcher (``launcher --fork-server SOCKET``), forks a child that becomes that launcher's kernel: it takes
the launcher's stdin/stdout/stderr, working folder, environment and ``-f CONNECTION_FILE``, then runs
ipykernel exactly as ``ipykernel_launcher`` does. Every notebook still gets a new process of its own, so
nothing a notebook defines, imports or plots reaches the next one; what the children share is only the state
the imports below leave behind, identical for each.

The same idea as multiprocessing's ``forkserver`` with ``set_forkserver_preload``. With a ``PARENT_PID`` the
fork server ends when that process (the runner) is gone; with ``PARENT_PID`` 0 it is kept for later runs and ends
after ``IDLE_S`` seconds without a request. Either way it ends, refusing the request, as soon as a file it
imported changed (a package upgraded, the project's code edited): a fork must run the code on disk. A child
ends when its launcher is gone (the launcher holds the other end of the child's connection, so its death
reads as end-of-file here).
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from datetime import UTC, datetime

# What a warm kernel has imported before its notebook starts: the stack the six notebooks import (pandas,
# scikit-learn, scipy, matplotlib's core, pandera, scrapbook, fpdf2 …) and ipykernel itself. Not
# matplotlib.pyplot or the inline backend: they hook into the kernel's shell when imported, which must
# happen inside the kernel, as in Jupyter. Declared once; the manifest records it.
PRELOAD = (
    "numpy",
    "pandas",
    "scipy.stats",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.preprocessing",
    "sklearn.pipeline",
    "sklearn.metrics",
    "joblib",
    "skops.io",
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "pandera.pandas",
    "scrapbook",
    "yaml",
    "fpdf",
    "tenacity",
    "exchange_calendars",
    "ipykernel.kernelapp",
)
# What a warm kernel has BUILT before its notebook starts (``module:function``, called once in the warm
# process; the forks inherit the result): the NYSE sessions, 0.4 s to build, used by notebooks 02 and 05.
PREBUILD = ("aapl_lib.data.trading_calendar:sessions",)

# Variables read when an interpreter starts: a fork carries the fork server's start-up, so a request whose
# environment differs in any of them gets no fork (its launcher starts an ordinary kernel instead).
START_UP_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED", "PYTHONSAFEPATH", "PYTHONNOUSERSITE")
# ipykernel sets this before matplotlib is first imported in a kernel; the fork server imports matplotlib first.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
MAX_REQUEST = 1 << 20


def _preload() -> dict[str, int]:
    """Import the stack; the modification times of every file it imported."""
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    for name in PRELOAD:
        __import__(name)
    for target in PREBUILD:
        module, function = target.split(":")
        getattr(importlib.import_module(module), function)()
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    return {path: _mtime(path) for path in files if isinstance(path, str) and os.path.isfile(path)}


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _changed(imported: dict[str, int]) -> str | None:
    """A file imported at start-up that is no longer the same (about 2 ms for the ~2000 files)."""
    for path, mtime in imported.items():
        if _mtime(path) != mtime:
            return f"{path} changed since the warm process started"
    return None


def _incompatible(env: dict[str, str]) -> str | None:
    for name in START_UP_VARIABLES:
        if env.get(name) != os.environ.get(name):
            return f"{name} differs from the warm process's"
    return None


def _become_kernel(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: take the launcher's place and run ipykernel; never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # ipykernel read JPY_PARENT_PID when the fork server imported it, and would poll that process as its parent
        # (it is the launcher's parent, not this child's): parent_handle=1 means "no poller, not a terminal
        # kernel" — the launcher connection below ends this kernel with its launcher instead.
        sys.argv = [sys.argv[0], *request["argv"], "--IPKernelApp.parent_handle=1"]

        def end_with_launcher() -> None:
            try:
                while conn.recv(16):
                    pass
            except OSError:
                pass
            os._exit(1)  # the launcher is gone: so is its kernel

        threading.Thread(target=end_with_launcher, name="launcher-watch", daemon=True).start()
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - the kernel's own stderr shows it
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_one(listener: socket.socket, imported: dict[str, int], started_at: str) -> bool:
    """Answer one request: a fork, or a check (``{"check": true}``: who and how fresh the process is).
    False when this process is out of date and must end."""
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        message, fds, _flags, _addr = socket.recv_fds(conn, MAX_REQUEST, 3)
        if not message:
            return True
        request = json.loads(message)
        stale = _changed(imported)
        about = {"warm_pid": os.getpid(), "warm_started_at": started_at}
        if stale or request.get("check"):
            conn.send(json.dumps({**about, "error": stale} if stale else about).encode())
            return stale is None
        problem = _incompatible(request["env"]) if len(fds) == 3 else "the launcher's stdio did not arrive"
        if problem:
            conn.send(json.dumps({"error": problem}).encode())
            return True
        pid = os.fork()
        if pid == 0:
            listener.close()
            _become_kernel(conn, request, fds)
        conn.send(json.dumps({"pid": pid, **about}).encode())
    except Exception as exc:  # noqa: BLE001 - one bad request must not end the fork server
        try:
            conn.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        except OSError:
            pass
    finally:
        conn.close()
        for fd in fds:
            os.close(fd)
    return True


def main() -> None:
    """Listen, preload, then serve requests until the parent process is gone (or, kept, until idle), or
    until a file this process imported changed."""
    path, parent_pid, idle_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if sys.path and sys.path[0] in ("", os.getcwd()):  # as ipykernel_launcher: a kernel adds "" itself
        del sys.path[0]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)  # before the imports: a request made meanwhile waits in the backlog
    bound = os.stat(path).st_ino
    listener.listen(64)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    imported = _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel, no zombies
    last = time.monotonic()
    serving = True
    while serving and (os.getppid() == parent_pid if parent_pid else time.monotonic() - last < idle_s):
        readable, _, _ = select.select([listener], [], [], 0.5)
        if readable:
            serving = _serve_one(listener, imported, started_at)
            last = time.monotonic()
    listener.close()
    try:
        if os.stat(path).st_ino == bound:  # still ours: a successor may have taken the name meanwhile
            os.unlink(path)
    except OSError:
        pass


if __name__ == "__main__":
    main()
