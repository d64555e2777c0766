"""The commands the pipeline prints for a person to type next (``approve``, ``reject``, ``resume``…), written
once: ``python runner.py [--outputs DIR] COMMAND``, so that a command copied from a run that wrote elsewhere
than the project's own ``outputs/`` acts on the same outputs folder when pasted."""

from __future__ import annotations

import shlex
from pathlib import Path

from aapl_lib.io.project import project_root

PROGRAM = "python runner.py"


def follow_up(command: str, outputs: str | Path | None) -> str:
    """``python runner.py COMMAND`` for the outputs folder ``outputs``: with ``--outputs DIR`` (absolute, quoted
    for a POSIX shell) unless ``outputs`` is the project's own ``outputs/``, the folder a bare command uses.

    ``--outputs`` goes last (a global option is accepted after the command), so the command reads as it does
    without it: ``python runner.py approve RUN --by NAME [--note TEXT] --outputs DIR``."""
    if outputs is None:  # a folder outside any outputs/runs (an analyst's --run-dir): the bare command
        return f"{PROGRAM} {command}"
    outputs = Path(outputs).expanduser().resolve()
    root = project_root()
    if root is not None and outputs == (root / "outputs").resolve():
        return f"{PROGRAM} {command}"
    # $AAPL_OUTPUTS_DIR counts as "elsewhere" too: the shell a command is pasted into may not have it set
    return f"{PROGRAM} {command} --outputs {shlex.quote(str(outputs))}"
