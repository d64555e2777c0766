"""`make mutants` (bench/mutants.py) plants bugs by exact pieces of source: each must still be found exactly once,
or the audit would silently test nothing. The audit itself is long and runs on demand, not here."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def test_every_mutant_still_applies_and_names_tests_that_exist():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mutants.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mutants.py"), "--list"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    tests = [line.strip() for line in listed.stdout.splitlines() if line.startswith("    tests/")]
    assert tests and all((ROOT / t.split("::")[0]).is_file() for t in tests)


def test_a_mutant_whose_code_is_gone_is_reported_not_skipped(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutants", ROOT / "bench" / "mutants.py")
    mutants = importlib.util.module_from_spec(spec)
    sys.modules["mutants"] = mutants  # dataclasses look their module up there
    spec.loader.exec_module(mutants)
    (tmp_path / "m.py").write_text("x = 1\nx = 1\n", encoding="utf-8")
    for source in ("y = 2", "x = 1"):  # absent; present twice
        bad = mutants.Mutant("gone", "", "m.py", source, "x = 3", (1,))
        try:
            mutants.apply(bad, tmp_path)
        except ValueError as exc:
            assert "update it" in str(exc)
        else:
            raise AssertionError(f"{source!r} applied")
    mutants.apply(mutants.Mutant("ok", "", "m.py", "x = 1\nx = 1", "x = 3", (1,)), tmp_path)
    assert (tmp_path / "m.py").read_text(encoding="utf-8") == "x = 3\n"
