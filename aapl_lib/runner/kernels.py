"""The kernels papermill runs the notebooks in: ipykernel started with the runner's own interpreter (and
ended when the runner is gone), talking over IPC sockets where the platform has them, forked warm from a
process that imported the stack once (:mod:`aapl_lib.runner.kernel_zygote`) unless that is off or fails,
and how to tell a kernel that never started from a task that failed."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aapl_lib.runner.import_closure import PACKAGE_DIR
from aapl_lib.runner.kernel_zygote import PRELOAD, START_UP_VARIABLES

READY_TIMEOUT_S = 120.0  # how long a kernel start waits for the warm process to finish its imports
# Set by a batch for the ticker processes it spawns: the socket of the batch's warm process, which they
# borrow instead of starting one each (every ticker's kernels fork from the one import of the stack).
SHARED_SOCKET_ENV = (
    "AAPL_WARM_KERNELS_SOCKET"  # how long a kernel start waits for the warm process to finish its imports
)


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


def ipc_available() -> bool:
    import zmq

    return bool(zmq.has("ipc"))


@dataclass
class KernelStart:
    """How one notebook's kernel was started: the record the manifest keeps, and the pids to stop."""

    warm: bool
    start_file: Path = field(default_factory=lambda: scratch_dir() / f"{uuid.uuid4().hex}.start.json")
    reason: str | None = None  # why no fork was asked for
    launcher_pid: int | None = None

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.start_file.read_text())
        except (OSError, ValueError):
            return {}

    def pids(self) -> list[int]:
        """The launcher and, for a forked kernel, the kernel itself."""
        found = {self.launcher_pid, self.read().get("pid")}
        return sorted(int(p) for p in found if p)

    def record(self) -> dict[str, Any]:
        """``{"start": "fork" | "cold", "reason"?, "preloaded"?}`` for the task's manifest record."""
        started = self.read()
        kind = started.get("start", "cold")
        out: dict[str, Any] = {"start": kind}
        if kind == "fork":
            out["preloaded"] = list(PRELOAD)
            out["warm_pid"] = started.get("warm_pid")
        else:
            out["reason"] = self.reason or started.get("reason", "the kernel did not start")
        self.start_file.unlink(missing_ok=True)
        return out


def same_interpreter_kernel_manager(
    stderr_path: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    start: KernelStart | None = None,
):
    """A kernel manager class that starts ipykernel with the runner's own interpreter, whatever ``python3``
    kernelspec is installed elsewhere on the machine; the kernel process's own stderr (start-up warnings,
    crash traces) goes to ``stderr_path``; ``on_start`` receives the kernel's pid (for the watchdog); with
    ``start.warm`` the kernel is forked from this process's warm process when it is ready."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    start = start or KernelStart(warm=False)

    class SameInterpreterKernelManager(AsyncKernelManager):
        zygote: str | None = None

        @default("transport")
        def _transport_default(self) -> str:
            return "ipc" if ipc_available() else "tcp"

        @default("ip")
        def _ip_default(self) -> str:
            if self.transport == "ipc":  # sockets in this process's scratch folder, not ports on the host
                return str(scratch_dir() / f"k-{uuid.uuid4().hex[:8]}")
            return super()._ip_default()

        async def start_kernel(self, **kw):  # type: ignore[override]
            import asyncio

            if start.warm and self.zygote is None:
                warm = warm_kernels()
                start.reason = await asyncio.to_thread(warm.wait_ready)
                self.zygote = None if start.reason else str(warm.socket)
                self._kernel_spec = None
            elif not start.warm:
                start.reason = "warm kernels are off (warm_kernels: false)"
            if stderr_path is not None and "stderr" not in kw:
                stderr_path.parent.mkdir(parents=True, exist_ok=True)
                with open(stderr_path, "ab") as stderr:  # the child keeps its own copy of the descriptor
                    result = await super().start_kernel(**kw, stderr=stderr)
            else:
                result = await super().start_kernel(**kw)
            pid = getattr(self.provisioner, "pid", None) or getattr(
                getattr(self.provisioner, "process", None), "pid", None
            )
            start.launcher_pid = int(pid) if pid else None
            if on_start and pid:
                on_start(int(pid))
            return result

        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            if self._kernel_spec is None:
                # aapl_lib.runner.kernel_launcher = ipykernel_launcher + "end when the runner (this pid) is gone"
                # (+ "fork me from the warm process")
                argv = [
                    sys.executable,
                    "-m",
                    "aapl_lib.runner.kernel_launcher",
                    str(os.getpid()),
                    str(start.start_file),
                ]
                argv += ["--zygote", self.zygote] if self.zygote else []
                self._kernel_spec = KernelSpec(
                    argv=[*argv, "-f", "{connection_file}"],
                    env={"PYTHONPATH": kernel_env()["PYTHONPATH"]},
                    display_name="Python 3 (ipykernel)",
                    language="python",
                    resource_dir="",
                )
            return self._kernel_spec

    return SameInterpreterKernelManager


KERNEL_STARTS = 3  # attempts to start a notebook's kernel before the task counts as failed


def kernel_failed_to_start(exc: BaseException) -> bool:
    """True when the kernel died or never answered before the first cell ran — e.g. jupyter_client's port race
    ('Address already in use') when several runners start kernels at once."""
    text = str(exc)
    return "before replying to kernel_info" in text or "Kernel didn't respond in" in text
