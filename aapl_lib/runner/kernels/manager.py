"""The kernels papermill runs the notebooks in: ipykernel started with the runner's own interpreter (and
ended when the runner is gone), talking over IPC sockets where the platform has them, forked warm from a
process that imported the stack once (:mod:`aapl_lib.runner.kernels.fork_server`) unless that is off or fails,
the next notebook's kernel started while the current one runs (:class:`NextKernel`), and how to tell a
kernel that never started from a task that failed."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aapl_lib.runner.kernels import launcher
from aapl_lib.runner.kernels.fork_server import PREBUILD, PRELOAD
from aapl_lib.runner.kernels.warm_pool import READY_TIMEOUT_S, kernel_env, scratch_dir, warm_kernels

if TYPE_CHECKING:  # jupyter_client is imported when a kernel starts, not with the runner
    from jupyter_client.kernelspec import KernelSpec


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

    def kill(self) -> None:
        """SIGKILL the launcher and the kernel (the watchdog, an interrupted run, a failed shutdown)."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def record(self) -> dict[str, Any]:
        """``{"start": "fork" | "cold", "reason"?, "preloaded"?}`` for the task's manifest record."""
        started = self.read()
        kind = started.get("start", "cold")
        out: dict[str, Any] = {"start": kind}
        if kind == "fork":
            out["preloaded"], out["prebuilt"] = list(PRELOAD), list(PREBUILD)
            out["warm_pid"] = started.get("warm_pid")
            out["warm_started_at"] = started.get("warm_started_at")  # earlier than the run: kept from before
        else:
            out["reason"] = self.reason or started.get("reason", "the kernel did not start")
        self.start_file.unlink(missing_ok=True)
        return out


def launcher_kernel_spec(start: KernelStart, fork_server: str | None) -> KernelSpec:
    """A notebook kernel's spec: :mod:`aapl_lib.runner.kernels.launcher` (ipykernel's launcher, ended when this
    runner process is gone and, given ``fork_server``, forked from that warm process) with the runner's own
    interpreter and every kernel's PYTHONPATH (:func:`kernel_env`)."""
    from jupyter_client.kernelspec import KernelSpec

    argv = launcher.command(os.getpid(), str(start.start_file), fork_server)
    return KernelSpec(
        argv=[*argv, "-f", "{connection_file}"],
        env={"PYTHONPATH": kernel_env()["PYTHONPATH"]},
        display_name="Python 3 (ipykernel)",
        language="python",
        resource_dir="",
    )


def same_interpreter_kernel_manager(
    stderr_path: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    start: KernelStart | None = None,
):
    """A kernel manager class that starts ipykernel with the runner's own interpreter, whatever ``python3``
    kernelspec is installed elsewhere on the machine; the kernel process's own stderr (start-up warnings,
    crash traces) goes to ``stderr_path``; ``on_start`` receives the kernel's pid (for the watchdog); with
    ``start.warm`` the kernel is forked from this process's warm process when it is ready."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    start = start or KernelStart(warm=False)

    class SameInterpreterKernelManager(AsyncKernelManager):
        fork_server: str | None = None  # the warm process's socket, once it is ready

        @default("transport")
        def _transport_default(self) -> str:
            return "ipc" if ipc_available() else "tcp"

        @default("ip")
        def _ip_default(self) -> str:
            if self.transport == "ipc":  # sockets in this process's scratch folder, not ports on the host
                return str(scratch_dir() / f"k-{uuid.uuid4().hex[:8]}")
            return super()._ip_default()

        async def start_kernel(self, **kw):  # type: ignore[override]
            if start.warm and self.fork_server is None:
                warm = warm_kernels()
                start.reason = await in_daemon_thread(warm.wait_ready)
                self.fork_server = None if start.reason else str(warm.socket)
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
                self._kernel_spec = launcher_kernel_spec(start, self.fork_server)
            return self._kernel_spec

    return SameInterpreterKernelManager


KERNEL_STARTS = 3  # attempts to start a notebook's kernel before the task counts as failed


def kernel_failed_to_start(exc: BaseException) -> bool:
    """True when the kernel died or never answered before the first cell ran — e.g. jupyter_client's port race
    ('Address already in use') when several runners start kernels at once."""
    text = str(exc)
    return "before replying to kernel_info" in text or "Kernel didn't respond in" in text


class NextKernel:
    """A kernel started for the next notebook while the current one runs (a background thread starts it:
    forked warm, that costs the fork and ipykernel's start-up, not the imports). Taken by the next task; one
    that died, failed to start or was never taken is shut down and an ordinary start takes its place."""

    def __init__(self, stderr_path: Path, cwd: Path, warm: bool) -> None:
        import threading

        self.start = KernelStart(warm=warm)
        self.km: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(stderr_path, cwd), name="next-kernel", daemon=True)
        self._thread.start()

    def _run(self, stderr_path: Path, cwd: Path) -> None:
        import asyncio

        try:
            km = same_interpreter_kernel_manager(stderr_path, start=self.start)(kernel_name="python3")
            asyncio.run(km.start_kernel(cwd=str(cwd)))
            self.km = km
        except BaseException as exc:  # noqa: BLE001 - the next task then starts its kernel itself
            self.error = exc

    def take(self, timeout: float = READY_TIMEOUT_S) -> tuple[Any, KernelStart] | None:
        """The started kernel manager and how it started, if its kernel is alive; None otherwise."""
        self._thread.join(timeout)
        if self.km is None or self._thread.is_alive():
            self.discard()
            return None
        process = getattr(self.km.provisioner, "process", None)
        if process is None or process.poll() is not None:  # it died waiting: an ordinary start replaces it
            self.discard()
            return None
        km, self.km = self.km, None
        return km, self.start

    def discard(self) -> None:
        """Shut the kernel down if it was never used."""
        self._thread.join()
        if self.km is not None:
            shutdown(self.km, self.start)
            self.km = None


def shutdown(km: Any, start: KernelStart) -> None:
    """Shut down a kernel this process started itself (nbclient does it for those it starts), in a thread of
    its own: the manager's event loop is not the caller's."""
    import asyncio
    import threading

    def stop() -> None:
        try:
            asyncio.run(km.shutdown_kernel(now=False))
        except Exception:  # noqa: BLE001 - then make sure: a kernel already gone is what shutting down wants
            start.kill()

    thread = threading.Thread(target=stop, name="kernel-shutdown", daemon=True)
    thread.start()
    thread.join()


async def in_daemon_thread(work: Callable[[], Any]) -> Any:
    """``await work()`` run in a daemon thread. Not ``asyncio.to_thread``: Python joins the default executor's
    threads at exit, so a wait abandoned by a cancelled kernel start (up to ``READY_TIMEOUT_S`` for the warm
    process) would keep a run alive for minutes after it printed ``succeeded``."""
    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile: nobody wants the answer
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def thread() -> None:
        try:
            result, error = work(), None
        except BaseException as exc:  # handed to the awaiting task, which raises it
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop has closed: the run has moved on
            pass

    threading.Thread(target=thread, name="aapl-wait", daemon=True).start()
    return await future
