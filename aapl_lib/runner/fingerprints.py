"""Task fingerprints, for resume and incremental runs.

A task's fingerprint hashes everything its result depends on:

* its notebook's source (code and markdown, without outputs, execution counts or metadata); for a runner step
  (the approval gate, the forecast ledger) its module ``aapl_lib/runner/steps/<name>.py`` instead;
* its resolved notebook parameters;
* the sha256 of each input artifact (and of the CSV file for the ``csv`` source, and of each file in
  ``feature_inputs`` for feature engineering);
* the source of the ``aapl_lib`` modules the notebook imports, followed transitively through their own
  imports — so editing ``reporting/pdf.py`` re-runs reporting only, while editing ``io/iorw.py`` re-runs all
  (:mod:`aapl_lib.runner.import_closure`);
* the source of the modules holding the analysts' ``extra_features`` functions (feature engineering);
* the versions of Python and of the key packages;
* the state outside the run folder the step declares it reads (``state_inputs``: the champion, the tries on
  the window, the forecast ledger).

Pure standard library (json, ast, hashlib): deciding that nothing changed must not import pandas,
nbformat or papermill.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aapl_lib.io.iorw import json_digest, sha256_file
from aapl_lib.pipeline.tasks import NOTEBOOK, TaskSpec, notebook_params
from aapl_lib.runner.import_closure import code_modules, module_closure, source_file


def notebook_cells(path: Path) -> list[dict[str, str]]:
    """The notebook's cells as ``{"type", "source"}``: what an edit changes, without outputs or ids."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        cells.append(
            {"type": cell.get("cell_type", ""), "source": "".join(source) if isinstance(source, list) else source}
        )
    return cells


def notebook_source_hash(path: Path) -> str:
    """sha256 of the notebook's cell types and sources."""
    return json_digest(notebook_cells(path))


def notebook_modules(path: Path) -> list[str]:
    """The ``aapl_lib`` modules a notebook depends on (its imports, transitively; "" is the package)."""
    return code_modules("\n".join(c["source"] for c in notebook_cells(path) if c["type"] == "code"))


def code_hash(modules: Iterable[str]) -> str:
    """sha256 over the named modules' source files."""
    digest = hashlib.sha256()
    for name in sorted(set(modules)):
        digest.update(name.encode())
        digest.update(source_file(name).read_bytes())
    return digest.hexdigest()


def step_code(task: TaskSpec, notebooks_dir: Path) -> tuple[dict[str, str], list[str]]:
    """What a step's code is: a notebook's cells (``{"notebook": hash}``) and the modules they import, or a
    runner step's module (``runner/steps/<name>.py``) and what it imports."""
    if task.kind == NOTEBOOK:
        notebook = notebooks_dir / task.notebook
        return {"notebook": notebook_source_hash(notebook)}, notebook_modules(notebook)
    return {}, module_closure([f"runner.steps.{task.name}", ""])


def task_fingerprint(
    task: TaskSpec,
    params: dict[str, Any],
    run_dir: Path,
    notebooks_dir: Path,
    versions: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The task's fingerprint and the parts it was made from (kept in the manifest to explain a re-run);
    ``extra``: the values of its ``state_inputs``."""
    source, modules = step_code(task, notebooks_dir)
    parts: dict[str, Any] = {
        **source,
        "params": json_digest(notebook_params(task, params)),
        "inputs": {
            rel: sha256_file(run_dir / rel)
            for rel in (*task.inputs, *task.optional_inputs)
            if (run_dir / rel).is_file()
        },
        "code": code_hash(modules),
        "code_modules": modules,
        "versions": json_digest(versions),
    }
    if "extra_features" in task.params and params.get("extra_features"):
        from aapl_lib.pipeline.feature_specs import (
            source_digests,  # analysts' feature modules: their edits re-run the task
        )

        parts["extra_feature_code"] = source_digests(params["extra_features"])
    if "feature_inputs" in task.params and params.get("feature_inputs"):  # a changed file re-runs the task
        parts["feature_inputs"] = {
            key: sha256_file(path) if Path(path).is_file() else "missing"
            for key, path in sorted(params["feature_inputs"].items())
        }
    if "csv_path" in task.params and params.get("source") == "csv" and params.get("csv_path"):
        csv = Path(params["csv_path"])
        parts["external"] = {"csv_sha256": sha256_file(csv) if csv.is_file() else "missing"}
    if extra:  # state outside the run folder the task reads (state_inputs: the registry's champion...)
        parts["external"] = {**parts.get("external", {}), **extra}
    return json_digest(parts), parts


def explain_difference(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """Which parts of two fingerprints differ, in words (``notebook, params`` ...)."""
    if not old:
        return "no earlier run to compare with"
    names = {
        "notebook": "notebook source",
        "params": "parameters",
        "inputs": "input artifacts",
        "code": "aapl_lib code",
        "extra_feature_code": "extra feature code",
        "feature_inputs": "feature input files",
        "versions": "package versions",
        "external": "CSV file or champion",
    }
    changed = [names.get(k, k) for k in names if old.get(k) != new.get(k)]
    return ", ".join(changed) or "nothing"
