"""The run record: ``manifest.json`` as objects whose named transitions are its only writers.

A :class:`RunRecord` wraps the manifest's JSON object and a :class:`TaskRecord` each task's entry. Both keep
the JSON as read (``fields``), so keys this code does not know (from older or newer runners) are written back
as they were, and the file is written with the same keys in the same order as before this module existed:
the manifest is compared byte for byte (``reproduce``, the tests). The loop asks for transitions (``start``,
``finish``, ``fail``, ``interrupt``, ``reuse``, ...) and saves through :meth:`RunRecord.save`, the one writer of
the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aapl_lib.io.iorw import utc_now, write_json
from aapl_lib.pipeline.states import State
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf


@dataclass(eq=False)  # compared by identity: background renders find their record with ``is``
class TaskRecord:
    """One task's entry in the run record (``manifest["tasks"][name]``)."""

    name: str
    fields: dict[str, Any]

    # ------------------------------------------------------------------ reads
    @property
    def status(self) -> str:
        """The task's state (:class:`aapl_lib.pipeline.states.State`, or ``not_selected``/``pending``)."""
        return self.fields.get("status", "")

    @property
    def artifacts(self) -> dict[str, dict[str, Any]]:
        """``{relative path: {sha256, bytes}}`` of the task's outputs as recorded."""
        return self.fields.get("artifacts") or {}

    @property
    def duration_s(self) -> float:
        return self.fields["duration_s"]

    @property
    def error(self) -> str:
        return self.fields.get("error", "")

    def get(self, key: str, default: Any = None) -> Any:
        """Any other field, as recorded."""
        return self.fields.get(key, default)

    # ------------------------------------------------------------------ before the task runs
    def present(self, note: str, artifacts: dict[str, Any]) -> None:
        """An upstream task whose outputs were already in the run folder (``--run-dir``)."""
        self.fields.update(status=State.PRESENT, note=note, artifacts=artifacts)

    def copied(self, from_run: str, artifacts: dict[str, Any]) -> None:
        """An upstream task whose outputs were copied from run ``from_run``."""
        self.fields.update(status=State.COPIED, from_run=from_run, artifacts=artifacts)

    def select(self) -> None:
        """A task this run is to execute (or reuse)."""
        self.fields["status"] = State.PENDING

    def rerun_because(self, problem: str) -> None:
        """A finished task that resume executes again (its files no longer match)."""
        self.fields["rerun_reason"] = problem

    def fingerprinted(self, fingerprint: str, parts: dict[str, Any]) -> None:
        self.fields.update(fingerprint=fingerprint, fingerprint_parts=parts)

    def reuse(self, entry: dict[str, Any], artifacts: dict[str, Any]) -> None:
        """Succeeded by reuse of the cache ``entry`` (whose files are now in this run folder)."""
        self.fields.update(
            status=State.REUSED,
            reused_from=entry["run_id"],
            duration_s=0.0,
            original_duration_s=entry.get("duration_s"),
            executed_notebook=entry.get("notebook"),
            html=entry.get("html"),
            report_html=entry.get("report_html"),
            scraps=entry.get("scraps", {}),
            artifacts=artifacts,
            ended_at=utc_now(),
        )

    # ------------------------------------------------------------------ while it runs
    def start(self, why: str, executed_notebook: str) -> None:
        """Executing its notebook now (``why``: the run reason shown in the task's log and the console)."""
        self.fields["run_reason"] = why
        self.fields.update(status=State.RUNNING, started_at=utc_now(), attempts=[], executed_notebook=executed_notebook)
        self.fields.pop("error", None)

    def kernel_restarted(self) -> None:
        self.fields["kernel_restarts"] = self.fields.get("kernel_restarts", 0) + 1

    def kernel_started(self, kernel: dict[str, Any]) -> None:
        self.fields["kernel"] = kernel

    def attempt_failed(self, number: int, error: str, delay_s: float) -> None:
        """A transient failure that the task's retry policy tries again after ``delay_s``."""
        self.fields["attempts"].append({"attempt": number, "error": error, "delay_s": round(delay_s, 3)})

    def attempt_succeeded(self) -> None:
        self.fields[State.TIMED_OUT] = False

    def ended(self, duration_s: float, parameters: dict[str, Any]) -> None:
        """The notebook stopped (either way): when, after how long, with which injected parameters."""
        self.fields.update(ended_at=utc_now(), duration_s=duration_s, parameters=parameters)

    def collected(self, scraps: dict[str, Any] | None = None, scraps_error: str | None = None) -> None:
        """The executed notebook's scraps, or why they could not be read."""
        if scraps_error is not None:
            self.fields["scraps_error"] = scraps_error
        else:
            self.fields["scraps"] = scraps

    def rendered(self, pages: dict[str, str]) -> None:
        """The executed notebook's HTML pages (``html``, ``report_html``) are written."""
        self.fields.update(pages)
        self.fields.pop("html_error", None)

    def render_failed(self, error: str) -> None:
        self.fields["html_error"] = error

    # ------------------------------------------------------------------ how it ended
    def finish(self, artifacts: dict[str, Any]) -> None:
        """Succeeded, with these outputs."""
        self.fields["artifacts"] = artifacts
        self.fields["status"] = State.SUCCESS

    def fail(self, artifacts: dict[str, Any], status: str, error: str) -> None:
        """Failed or timed out (``status``) with the one-line ``error``; whatever outputs it left."""
        self.fields["artifacts"] = artifacts
        self.fields.update(status=status, error=error)

    def interrupt(self, error: str) -> None:
        """Stopped by a signal while running."""
        self.fields.update(status=State.INTERRUPTED, ended_at=utc_now(), error=error)


@dataclass(eq=False)
class RunRecord:
    """A run's ``manifest.json``: params, selection, environment, one :class:`TaskRecord` per task, and the
    gate, tries, ledger and hook records the runner adds."""

    run_dir: Path
    fields: dict[str, Any]
    tasks: dict[str, TaskRecord] = field(init=False)

    def __post_init__(self) -> None:
        self.tasks = {name: TaskRecord(name, rec) for name, rec in self.fields["tasks"].items()}

    # ------------------------------------------------------------------ file
    @classmethod
    def new(
        cls,
        run_dir: Path,
        *,
        run_id: str,
        params: dict[str, Any],
        params_fingerprint: str,
        selection: tuple[str, str],
        environment: dict[str, Any],
        created_at: str,
        notebooks: dict[str, str],
        batch_id: str | None = None,
        replay_id: str | None = None,
    ) -> RunRecord:
        """A new run's record: every task ``not_selected`` (``notebooks``: task name -> its notebook's path);
        ``batch_id`` / ``replay_id`` name the batch or replay that started it (plain resume leaves it to them)."""
        fields: dict[str, Any] = {
            "run_id": run_id,
            "status": State.RUNNING,
            "run_dir": str(run_dir),
            "created_at": created_at,
            "params": params,
            "params_fingerprint": params_fingerprint,
            "selection": {"start_task": selection[0], "end_task": selection[1]},
            "environment": environment,
            "tasks": {name: {"status": State.NOT_SELECTED, "notebook": nb} for name, nb in notebooks.items()},
        }
        if batch_id:
            fields["batch_id"] = batch_id
        if replay_id:
            fields["replay_id"] = replay_id
        return cls(Path(run_dir), fields)

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        """Read ``run_dir/manifest.json`` (a CorruptStateError when damaged: :func:`manifest.load`)."""
        return cls(Path(run_dir), mf.load(run_dir))

    def save(self) -> Path:
        """Write ``manifest.json`` atomically, stamped ``updated_at``: the one writer of the file."""
        self.fields["updated_at"] = utc_now()
        return write_json(self.run_dir / layout.MANIFEST, self.fields)

    # ------------------------------------------------------------------ reads
    @property
    def run_id(self) -> str:
        return self.fields["run_id"]

    @property
    def params(self) -> dict[str, Any]:
        return self.fields["params"]

    @property
    def status(self) -> str:
        return self.fields["status"]

    @property
    def environment(self) -> dict[str, Any]:
        return self.fields["environment"]

    @property
    def selection(self) -> dict[str, str]:
        return self.fields.get("selection", {})

    @property
    def gate(self) -> dict[str, Any]:
        """The approval gate's record (empty before the gate is reached)."""
        return self.fields.get("gate", {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    # ------------------------------------------------------------------ transitions of the run
    def resume(self, params: dict[str, Any]) -> None:
        """``resume`` continues the run with ``params`` (the manifest's, with the operator's code-naming ones)."""
        self.fields["params"] = params
        self.fields.setdefault("resumed", []).append({"at": utc_now(), "previous_status": self.fields["status"]})
        self.fields["status"] = State.RUNNING

    def gate_reached(self) -> dict[str, Any]:
        """The gate's record, created empty the first time the gate is reached."""
        return self.fields.setdefault("gate", {})

    def gate_awaiting(self, proposal: str, reasons: list[str]) -> None:
        """The policy leaves the challenger to a person."""
        gate = self.gate_reached()
        gate.update(
            status=State.AWAITING_APPROVAL, proposal=proposal, reasons=reasons, since=gate.get("since") or utc_now()
        )

    def gate_decided(self, decision: dict[str, Any], sha256: str, with_reasons: bool = True) -> None:
        """The policy (``with_reasons``) or a person decided; ``sha256``: of ``reports/decision.json``."""
        gate = self.gate_reached()
        gate.update(status=State.DECIDED, decision=decision["decision"], by=decision["by"], at=decision["at"])
        gate["note"] = decision.get("note", "")
        if with_reasons:
            gate["reasons"] = decision["reasons"]
        gate["sha256"] = sha256

    def decided_by_person(self, decision: str) -> None:
        """``approve``/``reject``: the run's status is the decision until ``resume`` finishes it."""
        self.fields["status"] = decision

    def tries_recorded(self, summary: dict[str, Any]) -> None:
        self.fields["tries"] = summary

    def ledger_recorded(self, summary: dict[str, Any]) -> None:
        self.fields["ledger"] = summary

    def finish(self, status: str, duration_s: float) -> None:
        """The run ended in ``status`` after ``duration_s``."""
        self.fields["status"] = status
        self.fields["ended_at"] = utc_now()
        self.fields["duration_s"] = duration_s

    def hook_ran(self, result: dict[str, Any]) -> None:
        self.fields["hook"] = result
