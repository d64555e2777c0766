"""Task fingerprints, for resume and incremental runs.

A task's fingerprint hashes everything its result depends on:

* its notebook's source (code and markdown, without outputs, execution counts or metadata);
* its resolved notebook parameters;
* the sha256 of each input artifact (and of the CSV file for the ``csv`` source);
* the source of the ``aapl_lib`` modules the notebook imports, followed transitively through their own
  imports — so editing ``reporting.py`` re-runs reporting only, while editing ``iorw.py`` re-runs all;
* the source of the modules holding the analysts' ``extra_features`` functions (feature engineering);
* the versions of Python and of the key packages.

Pure standard library (json, ast, hashlib): deciding that nothing changed must not import pandas,
nbformat or papermill.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from .iorw import json_digest, sha256_file
from .tasks import TaskSpec, notebook_params

PACKAGE_DIR = Path(__file__).resolve().parent


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


def _imported_modules(code: str, current: str | None = None) -> set[str]:
    """``aapl_lib`` submodule names imported by ``code`` (absolute or, inside the package, relative)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "aapl_lib" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.split(".")[0] == "aapl_lib":
                parts = module.split(".")
                if len(parts) > 1:
                    found.add(parts[1])
                else:  # from aapl_lib import cleaning, modeling
                    found.update(alias.name for alias in node.names)
            elif node.level == 1 and current is not None:
                if module:
                    found.add(module.split(".")[0])
                else:  # from . import sources
                    found.update(alias.name for alias in node.names)
    return {name for name in found if (PACKAGE_DIR / f"{name}.py").is_file()}


@cache
def _module_imports(name: str) -> frozenset[str]:
    return frozenset(_imported_modules((PACKAGE_DIR / f"{name}.py").read_text(encoding="utf-8"), name))


def module_closure(roots: Iterable[str]) -> list[str]:
    """The modules in ``roots`` and everything they import inside ``aapl_lib``, sorted."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_module_imports(name) - seen)
    return sorted(seen)


def notebook_modules(path: Path) -> list[str]:
    """The ``aapl_lib`` modules a notebook depends on (its imports, transitively)."""
    code = "\n".join(c["source"] for c in notebook_cells(path) if c["type"] == "code")
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return module_closure(_imported_modules("\n".join(lines)))


def code_hash(modules: Iterable[str]) -> str:
    """sha256 over the named modules' source files (and the package's ``__init__``)."""
    digest = hashlib.sha256()
    for name in sorted(set(modules) | {"__init__"}):
        digest.update(name.encode())
        digest.update((PACKAGE_DIR / f"{name}.py").read_bytes())
    return digest.hexdigest()


def task_fingerprint(
    task: TaskSpec,
    params: dict[str, Any],
    run_dir: Path,
    notebooks_dir: Path,
    versions: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The task's fingerprint and the parts it was made from (kept in the manifest to explain a re-run)."""
    notebook = notebooks_dir / task.notebook
    modules = notebook_modules(notebook)
    parts: dict[str, Any] = {
        "notebook": notebook_source_hash(notebook),
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
        from .extra_features import source_digests  # analysts' feature modules: their edits re-run the task

        parts["extra_feature_code"] = source_digests(params["extra_features"])
    if "csv_path" in task.params and params.get("source") == "csv" and params.get("csv_path"):
        csv = Path(params["csv_path"])
        parts["external"] = {"csv_sha256": sha256_file(csv) if csv.is_file() else "missing"}
    if extra:  # state outside the run folder the task reads (the registry's champion)
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
        "versions": "package versions",
        "external": "CSV file or champion",
    }
    changed = [names.get(k, k) for k in names if old.get(k) != new.get(k)]
    return ", ".join(changed) or "nothing"
