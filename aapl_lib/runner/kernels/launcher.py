"""A notebook's kernel, ending with its runner:
``python -m aapl_lib.runner.kernels.launcher PARENT_PID START_FILE [--fork-server SOCKET] -f CONNECTION_FILE``.

jupyter_client starts each notebook's kernel in a session of its own, so when the runner is killed outright
(``kill -9``, the OOM killer) nothing stops the kernel: it would run on as an orphan, holding memory and
maybe writing into the run folder. This launcher starts a watcher thread that ends the kernel as soon as its
parent process — the runner that started it — is gone.

With ``--fork-server`` it first asks the warm process (:mod:`aapl_lib.runner.kernels.fork_server`) to fork the kernel,
hands it this process's stdin/stdout/stderr, working folder and environment, passes on the signals
jupyter_client sends (interrupt, terminate) and lives exactly as long as that kernel. When the warm process
cannot serve (gone, not ready, another environment), it hands over to ipykernel's own launcher here: an
ordinary kernel start. Either way it writes ``START_FILE`` (JSON) saying which it was and the kernel's pid.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# Spelt out, not ``__name__``: run with ``-m``, this module is ``__main__``.
MODULE = "aapl_lib.runner.kernels.launcher"
FORK_SERVER_FLAG = "--fork-server"


def command(parent_pid: int, start_file: str, fork_server: str | None) -> list[str]:
    """The launcher's command line with this interpreter, before ipykernel's own arguments (``-f FILE``): it
    ends with ``parent_pid``, records how its kernel started in ``start_file`` and, given a warm process's
    socket, asks that ``fork_server`` for the kernel."""
    argv = [sys.executable, "-m", MODULE, str(parent_pid), start_file]
    return [*argv, FORK_SERVER_FLAG, fork_server] if fork_server else argv


def parse_command(args: list[str]) -> tuple[int, str, str | None, list[str]]:
    """The launcher's arguments (``sys.argv[1:]``) as (parent pid, start file, fork server socket or None,
    the arguments left for ipykernel)."""
    parent_pid, start_file, rest = int(args[0]), args[1], list(args[2:])
    fork_server = None
    if len(rest) > 1 and rest[0] == FORK_SERVER_FLAG:
        fork_server, rest = rest[1], rest[2:]
    return parent_pid, start_file, fork_server, rest


def _watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    while True:
        if os.getppid() != parent_pid:  # re-parented: the runner died
            os._exit(1)
        time.sleep(interval)


def _write_start(path: str, record: dict) -> None:
    with open(path + ".part", "w", encoding="utf-8") as out:
        json.dump(record, out)
    os.replace(path + ".part", path)


def _forked_kernel(fork_server: str, argv: list[str]) -> tuple[socket.socket | None, dict | str]:
    """A kernel forked by the warm process (its answer: the kernel's and the warm process's pids) and the
    connection that ties it to this launcher, or why not."""
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.settimeout(30)
        conn.connect(fork_server)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        answer = json.loads(conn.recv(4096) or b'{"error": "the warm process closed the connection"}')
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if "pid" not in answer:
        conn.close()
        return None, str(answer.get("error"))
    conn.settimeout(None)
    return conn, answer


def _serve_as_forked(conn: socket.socket, pid: int) -> None:
    """Stand in for the forked kernel until it ends: forward signals, then exit."""

    def forward(signum, _frame) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    try:
        while conn.recv(16):  # the kernel holds the other end: end-of-file when it exits
            pass
    except OSError:
        pass
    os._exit(0)


def main() -> None:
    """Start the watcher; fork a warm kernel when asked and possible, else run ipykernel as
    ``ipykernel_launcher`` does."""
    parent_pid, start_file, fork_server, kernel_args = parse_command(sys.argv[1:])
    sys.argv[1:] = kernel_args  # what ipykernel's own launcher reads
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    reason = "warm kernels are off"
    if fork_server:
        conn, outcome = _forked_kernel(fork_server, kernel_args)
        if conn is not None:
            _write_start(start_file, {"start": "fork", **outcome, "launcher_pid": os.getpid()})
            _serve_as_forked(conn, int(outcome["pid"]))
        reason = f"the warm process could not fork it ({outcome})"
    _write_start(start_file, {"start": "cold", "pid": os.getpid(), "reason": reason})
    if sys.path and sys.path[0] in ("", os.getcwd()):  # as ipykernel_launcher: cwd off the path while loading
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
