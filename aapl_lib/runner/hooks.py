"""``on_success`` / ``on_failure`` commands from params, run after a run with its id and status."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any


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
