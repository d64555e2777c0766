"""The warm process a runner process forks its kernels from (:mod:`aapl_lib.runner.kernel_zygote`): started on
first use, shared by every run of the process and, through its socket, by the ticker processes of a local
batch; replaced when it died or the environment changed; stopped at exit. Also the environment every kernel
gets and the scratch folder of kernel sockets."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aapl_lib.runner.import_closure import PACKAGE_DIR
from aapl_lib.runner.kernel_zygote import START_UP_VARIABLES

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


def scratch_dir() -> Path:
    """This process's folder for kernel sockets and start records (short: Unix socket paths are limited)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="aapl-k-")))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return _SCRATCH[0]


class WarmKernels:
    """The warm process of this runner process: started on first use, shared by every run of the process
    (all the tickers of a batch worker), stopped when the process exits or its environment changes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.socket = scratch_dir() / f"zygote-{uuid.uuid4().hex[:8]}"
        self.errors = self.socket.with_suffix(".err")
        with open(self.errors, "wb") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "aapl_lib.runner.kernel_zygote", str(self.socket), str(os.getpid())],
                env=env,
                cwd=scratch_dir(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )

    def matches(self, env: dict[str, str]) -> bool:
        return self.process.poll() is None and all(env.get(k) == self.env.get(k) for k in START_UP_VARIABLES)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> str | None:
        """None once the warm process serves forks; else why it cannot."""
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.process.poll() is not None:
                tail = self.errors.read_text(errors="replace").strip().splitlines()[-1:] or [""]
                return f"the warm process exited with {self.process.returncode} {tail[0]}".strip()
            if time.monotonic() > deadline:
                return f"the warm process was not ready after {timeout:.0f} s"
            time.sleep(0.02)
        return None

    def stop(self) -> None:
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


def params_warm(params: dict[str, Any]) -> bool:
    """Whether a run's kernels are forked warm (``warm_kernels``, on unless the platform cannot fork)."""
    return bool(params.get("warm_kernels", True)) and hasattr(os, "fork")


def warm_kernels() -> WarmKernels | SharedWarmKernels:
    """This process's warm process (or the batch's, when it shares one), started (again) when there is none,
    it died, or the environment changed."""
    env = kernel_env()
    current = _WARM.get("current")
    if current is None or not current.matches(env):
        if current is not None:
            current.stop()
        shared = os.environ.get(SHARED_SOCKET_ENV)
        _WARM["current"] = SharedWarmKernels(shared) if shared and Path(shared).exists() else WarmKernels(env)
        if current is None:
            atexit.register(stop_warm_kernels)
    return _WARM["current"]


def stop_warm_kernels() -> None:
    """End this process's warm process, if any (at exit; tests)."""
    current = _WARM.pop("current", None)
    if current is not None:
        current.stop()
