"""How ``run`` and ``resume`` end: a run's or batch's result printed, its exit code returned."""

from __future__ import annotations

import sys
from typing import Protocol

from aapl_lib.pipeline.exit_codes import Exit


class Outcome(Protocol):
    """What ``run_pipeline``, ``resume_run`` and ``run_batch`` return (the part a command prints)."""

    @property
    def exit_code(self) -> int: ...

    @property
    def message(self) -> str: ...


def print_outcome(result: Outcome) -> int:
    """Print ``result.message`` (to stderr as an error unless the run succeeded or waits for a person) and
    return ``result.exit_code``."""
    # success, or waiting for a person (or nothing to resume): not an error
    if result.exit_code in (Exit.OK, Exit.AWAITING_APPROVAL):
        print(result.message)
    else:
        print("error: " + result.message, file=sys.stderr)
    return result.exit_code
