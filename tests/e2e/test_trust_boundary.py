"""The trust boundary (docs/trust.md), tried the way an attacker who can write to outputs/ and an operator who
types plain commands would: nothing a writer of outputs/ controls is executed. Each attack plants a payload that
would leave a file, and the test asserts the file is absent, the command refused with one line, and the earlier
run's files unchanged."""

from __future__ import annotations

import json
import shutil

import joblib
import pytest

from aapl_lib.io.iorw import sha256_file
from helpers import WINDOW


def _champion(project, model_file: str, sha: str) -> None:
    """champion.json as the registry writes it, naming ``model_file`` with ``sha``."""
    folder = project.outputs / "models" / "AAPL"
    folder.mkdir(parents=True, exist_ok=True)
    meta = json.loads((project.outputs / "runs" / project.seed_run / "model" / "model_meta.json").read_text())
    record = {
        "ticker": "AAPL",
        "model_file": model_file,
        "sha256": sha,
        "run_id": project.seed_run,
        "estimator": meta["estimator"],
        "features": meta["features"],
        "library_versions": meta["library_versions"],
    }
    (folder / "champion.json").write_text(json.dumps(record))


def _error_lines(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture()
def fresh(project, tmp_path):
    """This test's own copy of the module's project (one finished run, no champion)."""
    copy = project.clone(tmp_path / "project")
    copy.seed_run = project.seed_run
    shutil.rmtree(copy.outputs / "models", ignore_errors=True)
    return copy


def test_a_pickled_champion_with_a_matching_sha256_is_not_loaded_by_the_next_ordinary_run(fresh, tmp_path):
    marker = tmp_path / "payload-ran"
    folder = fresh.outputs / "models" / "AAPL"
    folder.mkdir(parents=True)
    payload = folder / "0123456789abcdef.joblib"
    payload.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    _champion(fresh, payload.name, sha256_file(payload))  # the attacker edits the sha256 to match

    proc = fresh.run(*WINDOW)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not marker.exists()
    errors = _error_lines(proc)
    assert len(errors) == 1 and "legacy joblib (pickle) file" in errors[0] and "convert-model AAPL" in errors[0]
    assert fresh.run("verify", fresh.seed_run).returncode == 0  # the earlier run's files are untouched


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_a_champion_record_pointing_outside_its_folder_is_refused(fresh, tmp_path, kind):
    model = fresh.outputs / "runs" / fresh.seed_run / "model" / "model.skops"
    elsewhere = fresh.root / "x.skops"  # a valid model, outside the registry
    shutil.copy2(model, elsewhere)
    folder = fresh.outputs / "models" / "AAPL"
    folder.mkdir(parents=True)
    name = {"absolute": str(elsewhere), "dotdot": "../../../x.skops", "symlink": "link.skops"}[kind]
    if kind == "symlink":
        (folder / name).symlink_to(elsewhere)
    _champion(fresh, name, sha256_file(elsewhere))

    proc = fresh.run(*WINDOW)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = _error_lines(proc)
    assert len(errors) == 1, proc.stderr
    assert ("leads outside" if kind == "symlink" else "not a plain file name in its own folder: refused") in errors[0]


def test_resume_runs_the_operators_hooks_never_the_manifests(fresh, tmp_path):
    fresh.add_cell("06_reporting.ipynb", "raise RuntimeError('report broke')")
    try:
        assert fresh.run(*WINDOW).returncode == 1
    finally:
        fresh.restore("06_reporting.ipynb")
    failed = fresh.latest()
    evil, mine = tmp_path / "manifest-hook-ran", tmp_path / "operator-hook-ran"
    manifest = fresh.manifest(failed)

    # 1. the manifest names code to import: plain resume refuses, naming it, and imports nothing
    (fresh.outputs / "evil_features.py").write_text(f"open({str(evil)!r}, 'w').close()\ndef f(p):\n    return p\n")
    manifest["params"]["extra_features"] = ["outputs.evil_features:f"]
    (failed / "manifest.json").write_text(json.dumps(manifest))
    proc = fresh.run("resume")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = _error_lines(proc)
    assert len(errors) == 1 and "extra_features ['outputs.evil_features:f']" in errors[0]
    assert "never from a manifest" in errors[0]
    assert not evil.exists()
    assert fresh.manifest(failed)["status"] == "failed"  # nothing written by the refused resume

    # 2. the manifest carries hooks: they never run; the operator's hooks of this resume do
    manifest["params"]["extra_features"] = []
    manifest["params"]["on_success"] = manifest["params"]["on_failure"] = f"touch {evil}"
    (failed / "manifest.json").write_text(json.dumps(manifest))
    proc = fresh.run("resume", "-p", "on_success", f"touch {mine}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"hooks: on_success: 'touch {mine}'; on_failure: none" in proc.stdout
    assert mine.exists() and not evil.exists()
    assert fresh.manifest(failed)["hook"]["command"] == f"touch {mine}"


def test_resume_takes_only_hooks_and_extra_features_from_the_command_line(fresh):
    proc = fresh.run("resume", "-p", "ticker", "MSFT")
    assert proc.returncode == 2
    assert "a recorded run's parameters are fixed" in proc.stderr


def test_a_reuse_cache_entry_naming_paths_outside_its_run_is_ignored(fresh):
    index_path = fresh.outputs / "cache" / "index.json"
    index = json.loads(index_path.read_text())
    outside = fresh.root / "planted.txt"
    outside.write_text("x")
    for entry in index.values():
        if entry.get("task") == "data_ingestion":
            entry["artifacts"]["../../../planted.txt"] = sha256_file(outside)
            entry["notebook"] = "/etc/passwd"
    index_path.write_text(json.dumps(index))
    proc = fresh.run(*WINDOW, "--end-task", "data_ingestion")
    assert proc.returncode == 0, proc.stderr
    run = fresh.latest()
    assert fresh.manifest(run)["tasks"]["data_ingestion"]["status"] == "success"  # executed, not reused
    assert outside.read_text() == "x"


def test_convert_model_unpickles_a_legacy_champion_only_for_the_sha256_the_operator_names(fresh):
    from aapl_lib.modeling.persistence import load_model

    model = fresh.outputs / "runs" / fresh.seed_run / "model" / "model.skops"
    estimator = load_model(model, sha256_file(model))
    folder = fresh.outputs / "models" / "AAPL"
    folder.mkdir(parents=True)
    legacy = folder / "0123456789abcdef.joblib"
    joblib.dump(estimator, legacy)
    sha = sha256_file(legacy)
    _champion(fresh, legacy.name, sha)

    wrong = fresh.run("convert-model", "AAPL", "--trust-sha256", "0" * 64, "--by", "ana")
    assert wrong.returncode == 1 and "not unpickled" in wrong.stderr
    proc = fresh.run("convert-model", "AAPL", "--trust-sha256", sha, "--by", "ana")
    assert proc.returncode == 0, proc.stderr
    assert "unpickling it runs any code it holds" in proc.stdout
    record = json.loads((folder / "champion.json").read_text())
    assert record["model_file"].endswith(".skops") and record["converted_from"]["trusted_sha256"] == sha
    run = fresh.run(*WINDOW)
    assert run.returncode == 0, run.stderr
    evaluation = json.loads((fresh.latest() / "reports" / "evaluation.json").read_text())
    assert evaluation["champion"]["sha256"] == record["sha256"]


def test_an_extra_features_module_inside_the_outputs_folder_is_never_imported(tmp_path, monkeypatch):
    """*library*: the default outputs folder lies on the project root, where feature modules are looked up."""
    from aapl_lib.features import extra

    outputs, marker = tmp_path / "outputs", tmp_path / "imported"
    outputs.mkdir()
    (outputs / "planted_features.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef f(p):\n    return p\n")
    monkeypatch.setenv("AAPL_OUTPUTS_DIR", str(outputs))
    monkeypatch.syspath_prepend(str(outputs))
    with pytest.raises(extra.FeatureFunctionError, match="is inside the outputs folder"):
        extra.load("planted_features:f")
    assert not marker.exists()
