"""The fork server (the warm process) started by this process: spawned by its module path, it answers who it is
once the stack is imported, refuses a kernel for another start-up environment, and is stopped with its files."""

from __future__ import annotations

import json
import os
import socket
import time

from aapl_lib.runner.kernels.warm_pool import WarmKernels, ask, kernel_env, listening


def _fork_request(path, env: dict[str, str]) -> dict:
    """A launcher's request for a kernel (its stdio passed along), and the fork server's answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.settimeout(60)
        conn.connect(str(path))
        request = {"argv": ["-f", "/nonexistent.json"], "cwd": os.getcwd(), "env": env}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        return json.loads(conn.recv(4096))


def test_a_fork_server_of_this_process_serves_refuses_another_environment_and_stops():
    warm = WarmKernels(kernel_env(), keep_s=0.0)  # this process's own: ends with it, never kept
    try:
        deadline = time.monotonic() + 30
        while not warm.socket.exists() and warm.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # it binds its socket first thing, then imports the stack
        assert warm.wait_ready() is None, warm.errors.read_text()
        about = ask(warm.socket, {"check": True}, timeout=60)
        assert about["warm_pid"] == warm.process.pid and "error" not in about
        assert warm.matches(kernel_env())
        other = {**kernel_env(), "PYTHONHASHSEED": "12345"}  # a fork would carry the wrong start-up
        assert not warm.matches(other)
        assert _fork_request(warm.socket, other) == {"error": "PYTHONHASHSEED differs from the warm process's"}
        assert listening(warm.socket)  # one refused request does not end it
    finally:
        warm.stop()
    assert warm.process.poll() is not None
    assert not warm.socket.exists() and not warm.errors.exists()
