"""``on_success`` / ``on_failure`` commands from params, run after a run with its id and status; and the
runner's pause points, where fault injection (tests, ``bench/faults.py``) stops a process at a known moment."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

PAUSE_ENV = "AAPL_PAUSE_AT"  # the name of the pause point to stop at (unset in production: no pause)
PAUSE_S = 120.0  # long enough for the one who set it to kill the process there


def pause_point(name: str) -> None:
    """Wait ``PAUSE_S`` seconds here when ``$AAPL_PAUSE_AT`` names this point, so a kill lands at a moment chosen
    by name rather than by the clock (``intent-written``: the run's intent is recorded, its folder not yet)."""
    if os.environ.get(PAUSE_ENV) == name:
        time.sleep(PAUSE_S)


def run_hook(command: str, *, run_id: str, status: str, run_dir: Path, timeout: float = 300) -> dict[str, Any]:
    """Run ``command`` with a shell; it gets ``AAPL_RUN_ID``, ``AAPL_RUN_STATUS`` and ``AAPL_RUN_DIR`` in
    its environment and the run id and status as ``$1`` and ``$2``. Returns its exit code and output tail;
    a failing hook never changes the run's own exit code."""
    env = {**os.environ, "AAPL_RUN_ID": run_id, "AAPL_RUN_STATUS": status, "AAPL_RUN_DIR": str(run_dir)}
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", command, "aapl-hook", run_id, status],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return {"command": command, "exit_code": proc.returncode, "output": (proc.stdout + proc.stderr)[-2000:]}
    except subprocess.TimeoutExpired:
        return {"command": command, "exit_code": None, "output": f"timed out after {timeout} s"}
    except OSError as exc:
        return {"command": command, "exit_code": None, "output": str(exc)}
