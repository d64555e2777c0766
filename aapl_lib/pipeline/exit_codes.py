"""The runner's exit codes: the one owner of every number a scheduler sees (README, "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """What ``runner.py`` returns to the shell."""

    OK = 0  # success (also: resume of a finished run, status, list, prune, a healthy `health`)
    FAILED = 1  # a task failed or timed out, damaged state, a full disk
    USAGE = 2  # bad parameters or usage: nothing ran, nothing was written
    AWAITING_APPROVAL = 3  # stopped at the approval gate until approve/reject, then resume
    LOCKED = 4  # another runner holds the lock of the run folder or of the reuse cache
    UNHEALTHY = 5  # `health` found a problem: a stale or failing ticker, a drift alarm, no runs at all


SIGNAL_BASE = 128  # a run stopped by a signal exits 128 + its number, as a shell reports it


def for_signal(signum: int) -> int:
    """The exit code of a run stopped by signal ``signum``: 143 for SIGTERM, 130 for SIGINT."""
    return SIGNAL_BASE + int(signum)


HELP = f"""exit codes:
  {Exit.OK:d}  success (also: resume of a finished run, status, list, prune; 'health' found nothing wrong)
  {Exit.FAILED:d}  a task failed or timed out (the message names the task, notebook, cell and error)
  {Exit.USAGE:d}  bad parameters or usage (nothing ran, nothing was written)
  {Exit.AWAITING_APPROVAL:d}  stopped at the approval gate: the run awaits 'approve' or 'reject', then 'resume'
     (a batch exits {Exit.FAILED:d} when any ticker failed, else {Exit.AWAITING_APPROVAL:d} when any awaits \
approval, else {Exit.OK:d})
  {Exit.LOCKED:d}  another runner holds the lock of the run folder or of the reuse cache
  {Exit.UNHEALTHY:d}  'health' found a problem: a ticker without a recent successful run, whose last runs all
     failed, or whose drift alarm is on, or no runs at all (one line each)
  {for_signal(2)}, {for_signal(15)}  stopped by Ctrl-C (SIGINT) or SIGTERM: the run is recorded as interrupted; \
'resume' continues it"""
