"""The states of a task, a run and a batch: one spelling each. They are strings (``StrEnum``), stored as
such in the manifests, so ``record["status"] == State.SUCCESS`` reads a manifest of any age."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A task's, a run's or a batch ticker's status."""

    PENDING = "pending"  # selected, not started yet
    NOT_SELECTED = "not_selected"  # outside --start-task/--end-task
    PRESENT = "present"  # an --run-dir folder already holds its outputs
    COPIED = "copied"  # outputs taken from an earlier run (--start-task, --from-run)
    RUNNING = "running"
    SUCCESS = "success"
    REUSED = "reused"  # same fingerprint as an earlier successful task: its files copied in
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"  # a signal stopped it, or it says running and no live process holds its lock
    LOCKED = "locked"  # another runner held the lock
    AWAITING_APPROVAL = "awaiting_approval"  # stopped at the manual gate
    APPROVED = "approved"  # a person approved; resume finishes the report
    REJECTED = "rejected"
    DECIDED = "decided"  # the gate record once a decision is made


DONE = (State.SUCCESS, State.REUSED, State.COPIED)  # a task whose outputs stand
UNFINISHED = (  # a run that `resume` continues
    State.INTERRUPTED,
    State.FAILED,
    State.TIMED_OUT,
    State.AWAITING_APPROVAL,
    State.APPROVED,
    State.REJECTED,
    State.LOCKED,
)
BATCH_UNFINISHED = (State.INTERRUPTED, State.FAILED, State.AWAITING_APPROVAL)  # a batch that `resume` continues
AT_GATE = (State.AWAITING_APPROVAL, State.APPROVED, State.REJECTED)  # a run the approval gate stopped or decided
# How a run that ended is counted by `health` and the operations page: it got through evaluation (a run stopped
# at the manual gate has fetched prices, trained, evaluated and forecast: the live profile's normal outcome) or
# it did not.
ENDED_WELL = (State.SUCCESS, *AT_GATE)
ENDED_BADLY = (State.FAILED, State.TIMED_OUT, State.INTERRUPTED, State.LOCKED)
