"""Runs the DAG: each task's notebook executed by papermill into the run folder, scraps read back with
scrapbook, the manifest and the logs kept up to date, HTML rendered for reviewers.

Imports of papermill/nbformat/scrapbook happen inside functions so that ``runner.py --help`` and parameter
errors answer fast.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import manifest as mf
from .config import fingerprint
from .errors import ParameterError
from .logs import TaskFormatter, file_handler
from .tasks import TASKS, TaskSpec, notebook_params, producer_of, select_tasks

log = logging.getLogger("aapl_lib.runner")
log.propagate = False  # runner messages go to the task logs; the console gets one progress line per task

EXIT_OK, EXIT_TASK_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass
class RunResult:
    """What a run ended with."""

    exit_code: int
    run_id: str
    run_dir: Path
    message: str


def make_run_id(params: dict[str, Any], now: dt.datetime | None = None) -> str:
    """``20261126T233000Z-aapl-1a2b3c``: sorts by time; ticker; first 6 hex of the params fingerprint."""
    now = now or dt.datetime.now(dt.timezone.utc)
    safe_ticker = "".join(ch if ch.isalnum() else "_" for ch in params["ticker"].lower())
    return f"{now:%Y%m%dT%H%M%SZ}-{safe_ticker}-{fingerprint(params)[:6]}"


def same_interpreter_kernel_manager(stderr_path: Path | None = None):
    """A kernel manager class that starts ipykernel with the runner's own interpreter, whatever ``python3``
    kernelspec is installed elsewhere on the machine; the kernel process's own stderr (start-up warnings,
    crash traces) goes to ``stderr_path`` instead of the runner's console."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class SameInterpreterKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            if stderr_path is not None and "stderr" not in kw:
                stderr_path.parent.mkdir(parents=True, exist_ok=True)
                with open(stderr_path, "ab") as stderr:  # the child keeps its own copy of the descriptor
                    return await super().start_kernel(**kw, stderr=stderr)
            return await super().start_kernel(**kw)

        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(
                    argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    display_name="Python 3 (ipykernel)", language="python", resource_dir="")
            return self._kernel_spec

    return SameInterpreterKernelManager


def _summary_line(outputs_dir: Path, task: str, message: str, level: int = logging.INFO) -> None:
    line = _format(task, level, message)
    path = outputs_dir / "logs" / "pipeline_summary.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _update_latest(outputs_dir: Path, run_dir: Path) -> None:
    """Point ``outputs/latest`` at the run (a symlink; a text file naming it where links fail)."""
    link = outputs_dir / "latest"
    try:
        rel = os.path.relpath(run_dir, outputs_dir)
        tmp = outputs_dir / f".latest.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(rel, tmp)
        os.replace(tmp, link)
    except OSError:
        (outputs_dir / "LATEST").write_text(str(run_dir) + "\n", encoding="utf-8")


def latest_run_dir(outputs_dir: Path) -> Path | None:
    """The run ``outputs/latest`` points at, if any."""
    link = outputs_dir / "latest"
    if link.exists():
        return link.resolve()
    named = outputs_dir / "LATEST"
    if named.is_file():
        return Path(named.read_text(encoding="utf-8").strip())
    return None


def _task_error_message(task: TaskSpec, exc: BaseException, executed: Path) -> str:
    """One line naming the task, the notebook, the cell and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        first = next((ln for ln in str(exc.source).splitlines() if ln.strip() and not ln.startswith("#")), "")
        return (f"task {task.name} failed in notebooks/{task.notebook}, cell {exc.exec_count} "
                f"(`{first.strip()[:60]}`): {exc.ename}: {exc.evalue} — executed notebook: {executed}")
    name = type(exc).__name__
    if name == "CellTimeoutError":
        return f"task {task.name} timed out in notebooks/{task.notebook}: {exc} — executed notebook: {executed}"
    if name == "DeadKernelError":
        return f"task {task.name}: the kernel died while running notebooks/{task.notebook}: {exc}"
    return f"task {task.name} failed in notebooks/{task.notebook}: {name}: {exc}"


def _prepare_upstream(tasks: list[TaskSpec], params: dict, run_dir: Path, outputs_dir: Path,
                      from_run: Path | None) -> dict[str, dict[str, Any]]:
    """For a run that starts after task 1: make the inputs of the first selected task available in
    ``run_dir``, copied (and sha256-checked) from an earlier run whose upstream params match."""
    first = tasks[0]
    upstream = [t for t in TASKS[:[t.name for t in TASKS].index(first.name)]]
    if not upstream:
        return {}
    records: dict[str, dict[str, Any]] = {}
    needed = [o for t in upstream for o in t.outputs]
    if all((run_dir / rel).is_file() for rel in needed):
        for t in upstream:
            records[t.name] = {"status": "present", "note": f"inputs already in {run_dir}"}
        return records
    base = from_run or latest_run_dir(outputs_dir)
    if base is None or not (base / "manifest.json").is_file():
        producer = producer_of(first.inputs[0]) if first.inputs else upstream[-1]
        raise ParameterError(f"--start-task {first.name} needs the outputs of {producer.name}, and no earlier "
                             f"run has them: run python runner.py --end-task {producer.name} first")
    base_manifest = mf.load(base)
    for t in upstream:
        state = base_manifest["tasks"].get(t.name, {})
        if state.get("status") not in ("success", "copied"):
            raise ParameterError(f"--start-task {first.name}: task {t.name} did not succeed in run "
                                 f"{base.name}: run python runner.py --end-task {t.name} first")
        changed = [p for p in t.params if base_manifest["params"].get(p) != params.get(p)]
        if changed:
            raise ParameterError(f"--start-task {first.name}: run {base.name} ran {t.name} with other values of "
                                 f"{', '.join(changed)}; run the whole pipeline with these parameters instead")
        for rel in t.outputs:
            src, dst = base / rel, run_dir / rel
            expected = state.get("artifacts", {}).get(rel, {}).get("sha256")
            if not src.is_file() or (expected and mf.sha256_file(src) != expected):
                raise ParameterError(f"--start-task {first.name}: {rel} of run {base.name} is missing or was "
                                     f"changed since it was written: run the whole pipeline")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        records[t.name] = {"status": "copied", "from_run": base.name,
                           "artifacts": mf.artifact_records(run_dir, t.outputs)}
    return records


def run_pipeline(params: dict[str, Any], *, outputs_dir: Path, notebooks_dir: Path, start_task: str | None = None,
                 end_task: str | None = None, run_dir: Path | None = None, from_run: Path | None = None,
                 log_level: str = "INFO", progress: Callable[[str], None] = print,
                 project: Path | None = None) -> RunResult:
    """Execute the selected tasks in order. Parameters must already be validated."""
    import papermill as pm
    import scrapbook as sb

    tasks = select_tasks(start_task, end_task)
    outputs_dir = outputs_dir.resolve()
    run_id = run_dir.name if run_dir else make_run_id(params)
    run_dir = (run_dir or outputs_dir / "runs" / run_id).resolve()
    if run_dir.is_relative_to(outputs_dir / "runs") and (run_dir / "manifest.json").exists() and not from_run:
        run_id = f"{run_id}-{os.getpid()}"  # same second, same params: keep both
        run_dir = outputs_dir / "runs" / run_id
    copied = _prepare_upstream(tasks, params, run_dir, outputs_dir, from_run)
    run_dir.mkdir(parents=True, exist_ok=True)

    level = getattr(logging, log_level.upper())
    manifest: dict[str, Any] = {
        "run_id": run_id, "status": "running", "created_at": mf.utc_now(), "run_dir": str(run_dir),
        "params": params, "params_fingerprint": fingerprint(params),
        "selection": {"start_task": tasks[0].name, "end_task": tasks[-1].name},
        "environment": mf.environment(project),
        "tasks": {t.name: {"status": "not_selected", "notebook": f"notebooks/{t.notebook}"} for t in TASKS},
    }
    for name, rec in copied.items():
        manifest["tasks"][name].update(rec)
    for t in tasks:
        manifest["tasks"][t.name]["status"] = "pending"
    mf.save(run_dir, manifest)

    kernel_manager = same_interpreter_kernel_manager(run_dir / "logs" / "kernel_stderr.log")
    pm_logger = logging.getLogger("papermill")
    run_started = time.perf_counter()
    exit_code, message = EXIT_OK, f"run {run_id} succeeded: {run_dir}"
    for position, task in enumerate(tasks, 1):
        record = manifest["tasks"][task.name]
        executed = run_dir / "notebooks" / task.notebook
        executed.parent.mkdir(parents=True, exist_ok=True)
        handler = file_handler(run_dir / "logs" / f"{task.name}.log", task.name, level)
        for logger in (pm_logger, log):
            logger.addHandler(handler)
        pm_logger.setLevel(logging.INFO)
        log.setLevel(level)
        record.update(status="running", started_at=mf.utc_now(), executed_notebook=f"notebooks/{task.notebook}")
        mf.save(run_dir, manifest)
        log.info("start %s (%s) in %s", task.name, task.notebook, run_dir, extra={"task": task.name})
        started = time.perf_counter()
        error: BaseException | None = None
        injected = {**notebook_params(task, params), "run_dir": str(run_dir)}
        try:
            pm.execute_notebook(
                str(notebooks_dir / task.notebook), str(executed), parameters=injected,
                kernel_name="python3", language="python", progress_bar=False, log_output=True,
                cwd=str(notebooks_dir), execution_timeout=params["cell_timeout_seconds"],
                kernel_manager_class=kernel_manager,
            )
        except Exception as exc:  # papermill/nbclient errors of every kind end the run here
            error = exc
        duration = round(time.perf_counter() - started, 3)
        record.update(ended_at=mf.utc_now(), duration_s=duration, parameters=injected)
        if executed.is_file():
            try:
                record["scraps"] = {name: scrap.data for name, scrap in sb.read_notebook(str(executed)).scraps.items()}
            except Exception as exc:  # a half-written notebook must not hide the real error
                record["scraps_error"] = str(exc)
            try:
                from .render import notebook_to_html
                notebook_to_html(executed, run_dir / "html" / executed.with_suffix(".html").name)
                record["html"] = f"html/{executed.with_suffix('.html').name}"
            except Exception as exc:
                record["html_error"] = str(exc)
        if error is None:
            missing = [rel for rel in task.outputs if not (run_dir / rel).is_file()]
            if missing:
                error = RuntimeError(f"notebook finished but did not write {', '.join(missing)}")
        record["artifacts"] = mf.artifact_records(run_dir, task.outputs)
        for logger in (pm_logger, log):
            logger.removeHandler(handler)
        if error is not None:
            text = _task_error_message(task, error, executed)
            record.update(status="timed_out" if type(error).__name__ == "CellTimeoutError" else "failed",
                          error=text)
            with open(run_dir / "logs" / f"{task.name}.log", "a", encoding="utf-8") as fh:
                fh.write(_format(task.name, logging.ERROR, text) + "\n")
            _summary_line(outputs_dir, task.name, f"run={run_id} status={record['status']} duration={duration}s "
                                                  f"error={text}", logging.ERROR)
            progress(f"[{position}/{len(tasks)}] {task.name:<20} {record['status'].upper()} after {duration:.1f} s")
            exit_code, message = EXIT_TASK_FAILED, text
            handler.close()
            break
        record["status"] = "success"
        with open(run_dir / "logs" / f"{task.name}.log", "a", encoding="utf-8") as fh:
            fh.write(_format(task.name, logging.INFO, f"success in {duration:.2f} s; artifacts: "
                             + ", ".join(f"{k} sha256={v['sha256'][:12]}" for k, v in record["artifacts"].items()))
                     + "\n")
        handler.close()
        _summary_line(outputs_dir, task.name, f"run={run_id} status=success duration={duration}s")
        progress(f"[{position}/{len(tasks)}] {task.name:<20} ok in {duration:.1f} s")
        mf.save(run_dir, manifest)

    manifest["status"] = "success" if exit_code == EXIT_OK else "failed"
    manifest["ended_at"] = mf.utc_now()
    manifest["duration_s"] = round(time.perf_counter() - run_started, 3)
    mf.save(run_dir, manifest)
    if run_dir.is_relative_to(outputs_dir / "runs"):
        _update_latest(outputs_dir, run_dir)
    _summary_line(outputs_dir, "pipeline", f"run={run_id} status={manifest['status']} "
                                           f"duration={manifest['duration_s']}s dir={run_dir}",
                  logging.INFO if exit_code == EXIT_OK else logging.ERROR)
    return RunResult(exit_code, run_id, run_dir, message)


def _format(task: str, level: int, message: str) -> str:
    record = logging.LogRecord("aapl_lib.runner", level, "", 0, message, None, None)
    record.task = task
    return TaskFormatter(task).format(record)
