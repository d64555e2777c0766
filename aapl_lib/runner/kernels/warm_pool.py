"""The warm process a runner process forks its kernels from (:mod:`aapl_lib.runner.kernels.fork_server`): started on
first use, shared by every run of the process and, through its socket, by the ticker processes of a local
batch; replaced when it died or the environment changed; stopped at exit. Also the environment every kernel
gets and the scratch folder of kernel sockets."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from filelock import FileLock

from aapl_lib.io.locks import pid_alive
from aapl_lib.runner.import_closure import PACKAGE_DIR
from aapl_lib.runner.kernels.fork_server import START_UP_VARIABLES

READY_TIMEOUT_S = 120.0  # how long a kernel start waits for the warm process to finish its imports
# Set by a batch for the ticker processes it spawns: the socket of the batch's warm process, which they
# borrow instead of starting one each (every ticker's kernels fork from the one import of the stack).
SHARED_SOCKET_ENV = "AAPL_WARM_KERNELS_SOCKET"


def kernel_env() -> dict[str, str]:
    """The environment of every kernel (and of the warm process): this one, with PYTHONPATH naming the
    project first, so the kernel imports the aapl_lib this runner fingerprinted, not another copy installed in
    the interpreter (an editable install of a different checkout)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")]))
    return env


_SCRATCH: list[Path] = []
SCRATCH_PREFIX = "aapl-k-"  # then the runner process's pid: aapl-k-<pid>-<random>


def scratch_dir() -> Path:
    """This process's folder for kernel sockets and start records (short: Unix socket paths are limited);
    those that runner processes killed with ``kill -9`` left behind are swept first."""
    if not _SCRATCH:
        sweep_scratch()
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return _SCRATCH[0]


def sweep_scratch(tmp: Path | None = None) -> list[Path]:
    """Delete the scratch folders left by runner processes that died without their ``atexit`` (``kill -9``, a
    power cut): this user's, named by a process that is gone, with no fork server still listening in them.
    Returns what was deleted."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX) :].split("-")[0]
        try:
            ours = folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if not ours or not pid.isdigit() or pid_alive(int(pid)):
            continue
        if any(listening(s) for s in folder.glob("fork-server-*")):  # its warm process outlived it: in use
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def kept_dir() -> Path | None:
    """The folder of the warm processes kept between runs (this user's only; None when it is not safe)."""
    folder = Path(tempfile.gettempdir()) / f"aapl-warm-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    # a socket others can reach would fork their code as this user: only a folder that is ours alone
    return folder if info.st_uid == os.getuid() and not info.st_mode & 0o077 else None


def ask(socket_path: Path, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One request to a warm process and its answer ({"error": ...} when it cannot answer)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.settimeout(timeout)
            conn.connect(str(socket_path))
            conn.send(json.dumps(request).encode())
            answer = conn.recv(4096)
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return json.loads(answer) if answer else {"error": "the warm process closed the connection"}


def listening(socket_path: Path) -> bool:
    """Whether a process listens on the socket (a killed one leaves the file behind)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.settimeout(1.0)
            conn.connect(str(socket_path))  # an empty request: the warm process just closes it
        return True
    except OSError:
        return False


class WarmKernels:
    """A warm process: this runner process's own (``keep_s`` 0: stopped when the process exits), or one kept
    for later runs with the same interpreter and start-up environment (ended by itself after ``keep_s``
    idle seconds, or as soon as a file it imported changes), found again by its socket's name."""

    def __init__(self, env: dict[str, str], keep_s: float = 0.0) -> None:
        self.env, self.keep_s, self.process = env, keep_s, None
        folder = kept_dir() if keep_s > 0 else None
        if folder is None:
            self.keep_s, self.socket = 0.0, scratch_dir() / f"fork-server-{uuid.uuid4().hex[:8]}"
            self._spawn(parent=os.getpid())
            return
        key = json.dumps([sys.executable, sys.version, [env.get(k) for k in START_UP_VARIABLES]])
        self.socket = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"
        with FileLock(str(self.socket.with_suffix(".lock"))):  # one spawn, however many runners start now
            if self.socket.exists() and "error" not in ask(self.socket, {"check": True}, READY_TIMEOUT_S):
                return  # kept from an earlier run, alive and up to date
            self.socket.unlink(missing_ok=True)  # dead (killed), or it just ended for being out of date
            self._spawn(parent=0)
            while not self.socket.exists() and self.process.poll() is None:  # bound before it imports
                time.sleep(0.01)

    def _spawn(self, parent: int) -> None:
        self.errors = self.socket.with_suffix(".err")
        with open(self.errors, "wb") as errors:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aapl_lib.runner.kernels.fork_server",
                    str(self.socket),
                    str(parent),
                    str(self.keep_s),
                ],
                env=self.env,
                cwd=self.socket.parent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )

    def matches(self, env: dict[str, str]) -> bool:
        alive = listening(self.socket) if self.process is None else self.process.poll() is None
        return alive and all(env.get(k) == self.env.get(k) for k in START_UP_VARIABLES)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> str | None:
        """None once the warm process serves forks (it has imported the stack); else why it cannot."""
        answer = ask(self.socket, {"check": True}, timeout)
        if "error" not in answer:
            return None
        if self.process is not None and self.process.poll() is not None:
            tail = self.errors.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            return f"the warm process exited with {self.process.returncode} {tail[0]}".strip()
        return f"the warm process cannot serve ({answer['error']})"

    def stop(self) -> None:
        """Stop this process's own warm process; a kept one ends by itself when idle."""
        if self.keep_s > 0 or self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for path in (self.socket, self.errors):
            path.unlink(missing_ok=True)


class SharedWarmKernels:
    """A warm process another process (the batch) owns and this one borrows."""

    def __init__(self, socket: str) -> None:
        self.socket = Path(socket)

    def matches(self, env: dict[str, str]) -> bool:
        return self.socket.exists()  # the warm process refuses a request from another start-up environment

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> str | None:
        return None if self.socket.exists() else "the batch's warm process is gone"

    def stop(self) -> None:
        pass  # not ours to stop


_WARM: dict[str, WarmKernels | SharedWarmKernels] = {}
_KEEP_S = [0.0]  # what the last run asked for: a warm process started again mid-run is kept as long


def params_warm(params: dict[str, Any]) -> bool:
    """Whether a run's kernels are forked warm (``warm_kernels``, on unless the platform cannot fork)."""
    return bool(params.get("warm_kernels", True)) and hasattr(os, "fork")


def params_keep_s(params: dict[str, Any]) -> float:
    """How long a warm process this run starts is kept idle for later runs (``warm_kernels_keep_seconds``)."""
    return float(params.get("warm_kernels_keep_seconds", 0.0))


def warm_kernels(keep_s: float | None = None) -> WarmKernels | SharedWarmKernels:
    """This process's warm process (or the batch's, when it shares one, or one kept from an earlier run),
    started (again) when there is none, it died, or the environment changed. ``keep_s``: idle seconds a warm
    process started now is kept for later runs (None: as the last call asked)."""
    if keep_s is not None:
        _KEEP_S[0] = keep_s
    env = kernel_env()
    current = _WARM.get("current")
    if current is None or not current.matches(env):
        if current is not None:
            current.stop()
        shared = os.environ.get(SHARED_SOCKET_ENV)
        _WARM["current"] = (
            SharedWarmKernels(shared) if shared and Path(shared).exists() else WarmKernels(env, _KEEP_S[0])
        )
        if current is None:
            atexit.register(stop_warm_kernels)
    return _WARM["current"]


def stop_warm_kernels() -> None:
    """End this process's warm process, if any (at exit; tests)."""
    current = _WARM.pop("current", None)
    if current is not None:
        current.stop()
