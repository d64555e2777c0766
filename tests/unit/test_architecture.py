"""The shape of aapl_lib, checked on every run. The layers are written once, as the import-linter contract in
pyproject.toml (``make lint`` runs ``lint-imports`` on it); these tests read that contract and add what
import-linter does not check: every unit of the package is in a layer, no import circles (imports inside
functions count too), the package maps in ``aapl_lib/__init__.py`` and docs/development.md name exactly what
exists, no function over 80 lines, and one owner of the outputs folder's layout (aapl_lib/store/layout.py)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "aapl_lib"
MAX_FUNCTION_LINES = 80


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return layers


# Highest first: each layer's units (a sub-package such as runner/ or a top-level module such as step.py), as
# the import-linter contract names them. A unit may import its own modules and any unit of a lower layer, never
# one of its own layer (siblings are independent: `|`) or above.
LAYERS: list[tuple[str, ...]] = [
    tuple(part.strip().removeprefix("aapl_lib.") for part in layer.split("|")) for layer in _contract()["layers"]
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
    raise AssertionError(f"aapl_lib/{unit} is in no layer: add it to [tool.importlinter]'s layers in pyproject.toml")


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


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """import-linter on the contract in ``cwd``'s pyproject.toml, against the aapl_lib found in ``cwd``."""
    script = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", script, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_every_unit_of_aapl_lib_is_in_a_layer():
    for module in _modules():
        if module:
            _layer(_unit(module))


def test_the_import_contract_holds():
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_import_contract_catches_an_upward_import_and_a_sibling_one(tmp_path):
    """The contract is not vacuous: a data module importing the run browser, and views importing reporting
    (independent siblings), both break it."""
    import shutil

    shutil.copytree(PACKAGE, tmp_path / "aapl_lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    cleaning = tmp_path / "aapl_lib" / "data" / "cleaning.py"
    cleaning.write_text(cleaning.read_text(encoding="utf-8") + "\nimport aapl_lib.views.browser  # noqa\n")
    compare = tmp_path / "aapl_lib" / "views" / "compare.py"
    compare.write_text(compare.read_text(encoding="utf-8") + "\nimport aapl_lib.reporting.markdown  # noqa\n")
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0
    assert "aapl_lib.data.cleaning -> aapl_lib.views.browser" in proc.stdout
    assert "aapl_lib.views.compare -> aapl_lib.reporting.markdown" in proc.stdout


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


def _units_in_order() -> list[str]:
    return [unit for layer in LAYERS for unit in layer]


def _shown(unit: str) -> str:
    """How a package map writes a unit: ``runner/`` for a sub-package, ``step.py``-less ``step`` for a module."""
    return f"{unit}/" if (PACKAGE / unit).is_dir() else unit


def test_the_package_map_in_aapl_lib_init_names_every_unit_in_layer_order():
    """aapl_lib/__init__.py's docstring: one line per layer, highest first, its units as ``name`` — the
    units and their order are the import contract's, so the map cannot drift from what is enforced."""
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))) or ""
    lead = re.compile(r"^  ((?:``[a-z_]+/?``(?:, | \| )?)+)")  # a layer's line starts with its units
    named = [u for line in doc.splitlines() if (m := lead.match(line)) for u in re.findall(r"``([a-z_]+)/?``", m[1])]
    assert named == _units_in_order(), "rewrite aapl_lib/__init__.py's map from pyproject.toml's layers"


def _doc_table() -> list[tuple[list[str], set[str], set[str]]]:
    """docs/development.md's package table: each row's units, every name its second column gives in backticks,
    and the names that lead an item (the modules it describes)."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = text.split("### aapl_lib: sub-packages in layers", 1)[1].split("\n\n", 3)[2]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first, modules = line.split("|")[1:3]
        units = [u.removesuffix("/").removesuffix(".py") for u in re.findall(r"`([a-z_./]+)`", first)]
        # each " · "-separated item (or ", "-separated pair) starts with the module it describes
        leads = {m[1] for item in re.split(r" · |, (?=`)", modules) if (m := re.match(r"\s*`([a-z_]+)/?`", item))}
        rows.append((units, set(re.findall(r"`([a-z_]+)/?`", modules)), leads))
    return rows


def test_docs_package_table_lists_every_layer_and_every_module():
    """docs/development.md names each layer's units in order and every module of each sub-package (nested
    packages by their folder name), and nothing that does not exist."""
    rows = _doc_table()
    assert [u for units, _, _ in rows for u in units] == _units_in_order()
    for units, named, leads in rows:
        for unit in units:
            folder = PACKAGE / unit
            if not folder.is_dir():
                continue
            modules = {p.stem for p in folder.glob("*.py")}
            modules |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
            nested = {
                p.stem
                for sub in folder.iterdir()
                if (sub / "__init__.py").is_file()
                for p in sub.glob("*.py")
                if p.stem != "__init__"
            }
            missing = modules - named - {"__init__"}
            assert not missing, f"docs/development.md: {unit}/ row does not name {sorted(missing)}"
            unknown = leads - modules - nested - {"templates"}
            assert not unknown, f"docs/development.md: {unit}/ row names {sorted(unknown)}, which do not exist"


def _long_functions(source: str, where: str) -> list[str]:
    return [
        f"{where}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_no_function_is_over_80_lines():
    """A function longer than a screen holds more than one step: split it by what each part does."""
    offenders = [
        line for name, source in sorted(_modules().items()) for line in _long_functions(source, name or "__init__")
    ]
    assert offenders == []


def test_the_length_check_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert _long_functions(f"def f():\n{body}\n", "m") == ["m:1 f (81 lines)"]
    assert _long_functions("def g():\n    return 1\n", "m") == []
