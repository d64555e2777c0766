"""The kernels papermill runs the notebooks in: ipykernel started with the runner's own interpreter (and
ended when the runner is gone), and how to tell a kernel that never started from a task that failed."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from aapl_lib.runner.import_closure import PACKAGE_DIR


def same_interpreter_kernel_manager(stderr_path: Path | None = None, on_start: Callable[[int], None] | None = None):
    """A kernel manager class that starts ipykernel with the runner's own interpreter, whatever ``python3``
    kernelspec is installed elsewhere on the machine; the kernel process's own stderr (start-up warnings,
    crash traces) goes to ``stderr_path``; ``on_start`` receives the kernel's pid (for the watchdog)."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class SameInterpreterKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            if stderr_path is not None and "stderr" not in kw:
                stderr_path.parent.mkdir(parents=True, exist_ok=True)
                with open(stderr_path, "ab") as stderr:  # the child keeps its own copy of the descriptor
                    result = await super().start_kernel(**kw, stderr=stderr)
            else:
                result = await super().start_kernel(**kw)
            pid = getattr(self.provisioner, "pid", None) or getattr(
                getattr(self.provisioner, "process", None), "pid", None
            )
            if on_start and pid:
                on_start(int(pid))
            return result

        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            if self._kernel_spec is None:
                # aapl_lib.runner.kernel_launcher = ipykernel_launcher + "end when the runner (this pid) is gone"
                self._kernel_spec = KernelSpec(
                    argv=[
                        sys.executable,
                        "-m",
                        "aapl_lib.runner.kernel_launcher",
                        str(os.getpid()),
                        "-f",
                        "{connection_file}",
                    ],
                    # the kernel imports the aapl_lib this runner fingerprinted, not another copy installed in
                    # the interpreter (an editable install of a different checkout)
                    env={
                        "PYTHONPATH": os.pathsep.join(
                            filter(None, [str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")])
                        )
                    },
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
