"""Which ``aapl_lib`` source files a notebook depends on: its imports, followed through the package's own
imports to any depth of sub-packages.

A module is named by its dotted path inside the package (``io.iorw``, ``modeling.training``); a package by
its folder (``modeling``, standing for ``modeling/__init__.py``). Importing ``aapl_lib.io.iorw`` executes
``aapl_lib/__init__.py`` and ``aapl_lib/io/__init__.py`` too, so those count as dependencies as well.

Pure standard library (ast): deciding that nothing changed must not import pandas. What a module imports is
parsed once per content (:func:`use_store`).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "aapl_lib"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def source_file(name: str) -> Path | None:
    """The file of module or package ``name`` (dotted, relative to the package; "" is the package), or None."""
    base = PACKAGE_DIR.joinpath(*name.split(".")) if name else PACKAGE_DIR
    if base.with_suffix(".py").is_file() and name:
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _resolve(module: str, names: Iterable[str]) -> set[str]:
    """``from aapl_lib.<module> import <names>``: the submodules among ``names``, else ``module`` itself."""
    found: set[str] = set()
    prefix = f"{module}." if module else ""
    for name in names:
        found.add(prefix + name if source_file(prefix + name) else module)
    return found


def imported_modules(code: str, current: str | None = None) -> set[str]:
    """The ``aapl_lib`` modules and packages ``code`` imports, absolutely or (as module ``current``)
    relatively; unparsable code imports nothing."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found.add(alias.name.partition(".")[2])
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level == 0 and (node.module or "").split(".")[0] == PACKAGE:
                found |= _resolve(node.module.partition(".")[2], names)
            elif node.level > 0 and current is not None:
                # current "io.iorw" is in package "io": level 1 is "io", level 2 is the root package
                is_package = source_file(current) == PACKAGE_DIR.joinpath(*current.split("."), "__init__.py")
                parts = current.split(".") if is_package else current.split(".")[:-1]
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
                found |= _resolve(module, names)
    return {name for name in found if source_file(name) is not None}


# Parsed imports by content: sha256 of a module's name and source -> the modules it imports. Kept in
# ``outputs/cache/imports.json`` between runs, so a rerun with nothing changed parses nothing.
_PARSED: dict[str, list[str]] = {}
_STORE: dict[str, Any] = {"path": None, "changed": False}


def use_store(path: Path) -> None:
    """Read (and later :func:`save_store` to) the parsed-imports cache at ``path``; a bad file is ignored."""
    _STORE.update(path=Path(path), changed=False)
    try:
        _PARSED.update(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass


def save_store() -> None:
    """Write the parsed-imports cache if this process parsed anything new."""
    if _STORE["path"] is not None and _STORE["changed"]:
        from aapl_lib.io.iorw import atomic_write_text

        atomic_write_text(_STORE["path"], json.dumps(_PARSED, sort_keys=True))
        _STORE["changed"] = False


@cache
def _module_imports(name: str) -> frozenset[str]:
    path = source_file(name)
    if path is None:
        return frozenset()
    parents = {".".join(name.split(".")[:i]) for i in range(len(name.split(".")))}  # their __init__ runs first
    source = path.read_bytes()
    key = hashlib.sha256(name.encode() + b"\0" + source).hexdigest()
    if key not in _PARSED:
        _PARSED[key] = sorted(imported_modules(source.decode("utf-8"), name))
        _STORE["changed"] = True
    return frozenset(_PARSED[key]) | parents


def module_closure(roots: Iterable[str]) -> list[str]:
    """The modules in ``roots`` and everything they import inside ``aapl_lib``, with the packages whose
    ``__init__`` runs on the way ("" is ``aapl_lib/__init__.py``), sorted."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_module_imports(name) - seen)
    return sorted(seen)


def code_modules(code: str) -> list[str]:
    """The closure of what notebook code imports (IPython ``%`` and ``!`` lines skipped)."""
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return module_closure(imported_modules("\n".join(lines)) | {""})
