"""The shape of aapl_lib, checked on every run: sub-packages in declared layers (a layer imports only from
the layers below it), no import circles (imports inside functions count too), and one owner of the outputs
folder's layout (aapl_lib/store/layout.py)."""

from __future__ import annotations

import ast
import re

from helpers import ROOT

PACKAGE = ROOT / "aapl_lib"

# Highest first. A unit is a sub-package (runner/) or a top-level module (cli.py); it may import its own
# modules and any unit of a lower layer, never one of its own layer or above.
LAYERS: list[tuple[str, ...]] = [
    ("cli", "step"),  # what runner.py and the notebooks call
    ("runner",),  # the loop, one task's execution, kernels, planning, fingerprints, batch, hooks
    ("views",),  # run browser, compare, DAG picture, HTML rendering
    ("reporting",),  # analysis.md and summary.pdf
    ("tracking",),  # the forecast ledger, live scoring, track record, health and drift
    ("promotion",),  # the gate and the registry of champions
    ("modeling",),  # candidates, training, walk-forward, metrics, significance, evaluation
    ("features",),  # the builder, analysts' extra features, the leakage guard
    ("data",),  # sources, ingestion, cleaning, calendar, schemas
    ("store",),  # the layout of outputs/: runs, manifests, reuse cache, retention
    ("pipeline",),  # the task specs, the parameters, states and exit codes
    ("io",),  # atomic files, hashing, locks, logs
    ("errors", "formatting"),  # the project's error classes; numbers as text
]


def _modules() -> dict[str, str]:
    """Dotted name inside aapl_lib ("runner.batch", "cli", "" for the package) -> source."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path.read_text(encoding="utf-8")
    return found


def _imports() -> dict[str, set[str]]:
    """Each module of aapl_lib and the modules of aapl_lib it imports, wherever the import stands."""
    modules = _modules()
    graph = {}
    for name, source in modules.items():
        found = set()
        for node in ast.walk(ast.parse(source)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}: relative import; aapl_lib imports absolutely"
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            for target in targets:
                if target.startswith("aapl_lib."):
                    inner = target.removeprefix("aapl_lib.")
                    while inner and inner not in modules:
                        inner = inner.rpartition(".")[0]
                    if inner:
                        found.add(inner)
        graph[name] = found - {name}
    # `from aapl_lib.io import iorw` names both io and io.iorw: keep the deepest
    return {name: {t for t in deps if not any(o.startswith(t + ".") for o in deps)} for name, deps in graph.items()}


def _unit(module: str) -> str:
    return module.split(".")[0]


def _layer(unit: str) -> int:
    for number, units in enumerate(LAYERS):
        if unit in units:
            return number
    raise AssertionError(f"aapl_lib/{unit} is in no layer: add it to LAYERS in tests/test_architecture.py")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the path that closes it, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _layer_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, deps in sorted(graph.items()):
        if not module:
            continue
        for dep in sorted(deps):
            if dep and _unit(dep) != _unit(module) and _layer(_unit(dep)) <= _layer(_unit(module)):
                bad.append(f"{module} -> {dep}")
    return bad


def test_every_unit_of_aapl_lib_is_in_a_layer():
    for module in _modules():
        if module:
            _layer(_unit(module))


def test_no_module_imports_its_own_layer_or_one_above():
    assert _layer_violations(_imports()) == []


def test_the_layer_check_catches_an_upward_import():
    assert _layer_violations({"data.cleaning": {"views.browser"}, "views.browser": {"data.cleaning"}}) == [
        "data.cleaning -> views.browser"
    ]
    assert _layer_violations({"cli": {"step"}}) == ["cli -> step"]


def test_no_module_of_aapl_lib_imports_itself_back_through_others():
    assert _cycle(_imports()) is None


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_only_layout_spells_the_folders_of_outputs():
    pattern = re.compile(
        r'/ "(runs|batches|cache|models|interactive)"|"(runs|batches|cache)" /|"pipeline_summary\.log"'
    )
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).as_posix() != "store/layout.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
