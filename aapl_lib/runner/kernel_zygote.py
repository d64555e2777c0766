"""Warm kernels: one process imports the heavy stack once, then forks a fresh kernel for each notebook.

``python -m aapl_lib.runner.kernel_zygote SOCKET PARENT_PID`` imports :data:`PRELOAD`, listens on the Unix
socket ``SOCKET`` and, for each request of a kernel launcher (``kernel_launcher --zygote SOCKET``), forks a
child that becomes that launcher's kernel: it takes the launcher's stdin/stdout/stderr, working folder,
environment and ``-f CONNECTION_FILE``, then runs ipykernel exactly as ``ipykernel_launcher`` does. Every
notebook still gets a new process of its own, so nothing a notebook defines, imports or plots reaches the
next one; what the children share is only the state the imports below leave behind, identical for each.

The same idea as multiprocessing's ``forkserver`` with ``set_forkserver_preload``. The zygote ends when its
parent (the runner) is gone; a child ends when its launcher is gone (the launcher holds the other end of the
child's connection, so its death reads as end-of-file here).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import threading
import traceback

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
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "pandera.pandas",
    "scrapbook",
    "yaml",
    "fpdf",
    "tenacity",
    "ipykernel.kernelapp",
)

# Variables read when an interpreter starts: a fork carries the zygote's start-up, so a request whose
# environment differs in any of them gets no fork (its launcher starts an ordinary kernel instead).
START_UP_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED", "PYTHONSAFEPATH", "PYTHONNOUSERSITE")
# ipykernel sets this before matplotlib is first imported in a kernel; the zygote imports matplotlib first.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
MAX_REQUEST = 1 << 20


def _preload() -> None:
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    for name in PRELOAD:
        __import__(name)


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
        # ipykernel read JPY_PARENT_PID when the zygote imported it, and would poll that process as its parent
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


def _serve_one(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        message, fds, _flags, _addr = socket.recv_fds(conn, MAX_REQUEST, 3)
        request = json.loads(message)
        problem = _incompatible(request["env"]) if len(fds) == 3 else "the launcher's stdio did not arrive"
        if problem:
            conn.send(json.dumps({"error": problem}).encode())
            return
        pid = os.fork()
        if pid == 0:
            listener.close()
            _become_kernel(conn, request, fds)
        conn.send(json.dumps({"pid": pid, "warm_pid": os.getpid()}).encode())
    except Exception as exc:  # noqa: BLE001 - one bad request must not end the zygote
        try:
            conn.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        except OSError:
            pass
    finally:
        conn.close()
        for fd in fds:
            os.close(fd)


def main() -> None:
    """Preload, then serve fork requests until the parent process is gone."""
    path, parent_pid = sys.argv[1], int(sys.argv[2])
    if sys.path and sys.path[0] in ("", os.getcwd()):  # as ipykernel_launcher: a kernel adds "" itself
        del sys.path[0]
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel, no zombies
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path + ".part")
    listener.listen(16)
    os.rename(path + ".part", path)  # the socket appears only when the zygote is ready
    print("ready", flush=True)
    while os.getppid() == parent_pid:
        readable, _, _ = select.select([listener], [], [], 0.5)
        if readable:
            _serve_one(listener)
    listener.close()


if __name__ == "__main__":
    main()
