"""What a notebook needs to run its step: where the run folder is, its inputs checked, its outputs' paths,
logging in the pipeline format, and scraps glued for the manifest.

A notebook's ``run_dir`` parameter is empty when an analyst runs it in Jupyter: the step then works in
``outputs/interactive/`` so that notebooks 01..06 run one after another with their defaults. The runner
always passes the run folder it created, and the outputs folder to a notebook that reads the registry
(``outputs_dir``; empty in Jupyter: the project's outputs folder). A notebook that declares ``ticker`` passes
it, and the step refuses to start on a run folder whose data or model is another ticker's.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aapl_lib.errors import MissingInputError, ParameterError
from aapl_lib.io.logs import configure_console
from aapl_lib.io.project import outputs_root
from aapl_lib.pipeline.tasks import (
    CLEANED,
    FEATURE_LIST,
    FEATURES,
    MODEL_META,
    PROVENANCE,
    RAW,
    TaskSpec,
    get_task,
    producer_of,
)
from aapl_lib.store.layout import interactive_dir


@dataclass
class StepContext:
    """A running step: its spec, its run folder and its scraps."""

    task: TaskSpec
    run_dir: Path
    interactive: bool
    outputs_dir: Path  # the outputs folder the run belongs to (its champion registry, its tries ledger)
    started: float = field(default_factory=time.perf_counter)
    scraps: dict[str, Any] = field(default_factory=dict)

    def path(self, relative: str) -> Path:
        """Absolute path of an artifact (``data/raw.csv``...) in this run folder; folders are created."""
        if relative not in (*self.task.inputs, *self.task.optional_inputs, *self.task.outputs):
            raise KeyError(f"{relative} is neither an input nor an output of task {self.task.name}")
        target = self.run_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def read_frame(self, relative: str):
        """Read an input frame and check it against its schema (raw, cleaned or features)."""
        from aapl_lib.io.iorw import read_frame

        frame = read_frame(self.path(relative))
        return self._check(relative, frame, "read")

    def write_frame(self, relative: str, frame, features: list[str] | None = None):
        """Check an output frame against its schema, then write it atomically (a bad frame is never written)."""
        from aapl_lib.io.iorw import write_frame

        self._check(relative, frame, "wrote", features)
        return write_frame(self.path(relative), frame)

    def _check(self, relative: str, frame, action: str, features: list[str] | None = None):
        from aapl_lib.data import schemas
        from aapl_lib.io.iorw import read_json

        if relative == RAW:
            schema = schemas.raw_schema()
        elif relative == CLEANED:
            schema = schemas.cleaned_schema()
        elif relative == FEATURES:
            if features is None:
                features = read_json(self.run_dir / FEATURE_LIST)["features"]
            schema = schemas.features_schema(features)
        else:
            return frame
        return schemas.validate(
            frame, schema, step=self.task.name, action="was given" if action == "read" else "produced"
        )

    def glue(self, name: str, value: Any, display: bool = False) -> Any:
        """Record a scrap (scrapbook) that the runner copies into the manifest."""
        import scrapbook as sb

        self.scraps[name] = value
        sb.glue(name, value, display=display)
        return value

    def finish(self) -> None:
        """Glue the step's duration (seconds) and the kernel's interpreter. Returns nothing, so that a
        notebook's last cell shows no stray value."""
        import sys

        self.glue("step_duration_s", round(time.perf_counter() - self.started, 3))
        self.glue("kernel_python", sys.executable)


def start_step(
    task_name: str,
    run_dir: str | os.PathLike = "",
    log_level: str = "INFO",
    *,
    ticker: str | None = None,
    outputs_dir: str | os.PathLike = "",
) -> StepContext:
    """Open a step: resolve the run folder and the outputs folder (``""``: the project's), check every input
    exists (else a MissingInputError that names the task and the command producing it) and, given the
    notebook's ``ticker``, that the run folder's data and model are that ticker's (else a ParameterError);
    route ``aapl_lib`` logs to the notebook."""
    task = get_task(task_name)
    interactive = not str(run_dir)
    folder = interactive_dir() if interactive else Path(run_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    configure_console(log_level, task=task.name)
    missing = [rel for rel in task.inputs if not (folder / rel).is_file()]
    if missing:
        producer = producer_of(missing[0])
        how = (
            f"run notebooks/{producer.notebook} first (Jupyter, with its defaults), or from the project "
            f"folder: python runner.py --run-dir {folder} --end-task {producer.name}"
            if interactive
            else f"run: python runner.py --end-task {producer.name}"
        )
        raise MissingInputError(
            f"{task.name} needs {missing[0]} in {folder}, which task {producer.name} "
            f"({producer.notebook}) writes: {how}"
        )
    if ticker is not None:
        _check_ticker(task, folder, ticker)
    outputs = Path(outputs_dir).expanduser().resolve() if str(outputs_dir) else outputs_root()
    return StepContext(task=task, run_dir=folder, interactive=interactive, outputs_dir=outputs)


# The upstream artifacts that name the ticker they were made for.
TICKER_SOURCES = (PROVENANCE, MODEL_META)


def _check_ticker(task: TaskSpec, folder: Path, ticker: str) -> None:
    """A ParameterError when an upstream artifact in ``folder`` was made for another ticker than ``ticker``
    (one run, one ticker: a notebook given MSFT must not evaluate AAPL's model). The task's own outputs are
    not upstream: it is about to replace them."""
    from aapl_lib.io.iorw import read_json

    for rel in TICKER_SOURCES:
        if rel in task.outputs or not (folder / rel).is_file():
            continue
        found = read_json(folder / rel).get("ticker")
        if found is not None and found != ticker:
            raise ParameterError(
                f"{task.name} was given ticker={ticker!r} but {rel} in {folder} is for {found!r}: "
                f"run it with ticker={found!r}, or run the notebooks from 01 with ticker={ticker!r}"
            )
