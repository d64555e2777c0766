"""docs/PROMISES.md maps each README promise to the tests that prove it: every test it names must exist."""

from __future__ import annotations

import ast
import re

from helpers import ROOT

REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _rows() -> list[str]:
    text = (ROOT / "docs" / "PROMISES.md").read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if re.match(r"^\| \d+ \|", ln)]


def _tests_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_test_the_promise_map_names_exists():
    rows = _rows()
    assert len(rows) >= 40
    missing = []
    for row in rows:
        refs = REFERENCE.findall(row)
        assert refs or "not yet proven" in row, f"a promise with neither a test nor 'not yet proven': {row[:80]}"
        missing += [
            f"{path}::{name}" for path, name in refs if not (ROOT / path).is_file() or name not in _tests_in(path)
        ]
    assert missing == []


def test_the_promise_map_numbers_its_rows_in_order():
    numbers = [int(row.split("|")[1]) for row in _rows()]
    assert numbers == list(range(1, len(numbers) + 1))


def test_a_promise_proven_only_in_process_says_library():
    """A row whose every test is an in-process unit test proves the promise through the library, not the path a
    user takes: it must say so (*library*), so that nobody reads it as proven end to end."""
    unmarked = [
        row.split("|")[1].strip()
        for row in _rows()
        if (refs := REFERENCE.findall(row))
        and all(p.startswith("tests/unit/") for p, _ in refs)
        and "*library" not in row
    ]
    assert unmarked == []
