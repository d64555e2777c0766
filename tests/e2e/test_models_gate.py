"""Candidates, walk-forward evaluation, significance, the champion registry and the approval gate."""

from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import joblib
import numpy as np
import pytest

from aapl_lib.data.cleaning import clean_prices
from aapl_lib.errors import IntegrityError, ModelVersionError, ModelWarning, UntrustedFileError
from aapl_lib.features.build import build_features
from aapl_lib.io.iorw import sha256_file
from aapl_lib.modeling import persistence
from aapl_lib.modeling import training as modeling
from aapl_lib.promotion.registry import Registry
from helpers import UNCOPIED, WINDOW, run_runner, sample_frame

HYPER = {
    "random_seed": 42,
    "ridge_alpha": 1.0,
    "gb_n_estimators": 30,
    "gb_max_depth": 2,
    "gb_learning_rate": 0.1,
    "gb_subsample": 0.8,
}


@pytest.fixture(scope="module")
def dev():
    cleaned, _ = clean_prices(sample_frame("2006-01-01", "2009-12-31"))
    feats, names = build_features(cleaned)
    split = modeling.chronological_split(feats, 0.2)
    return split.train, names


def _fitted(dev, name="ridge"):
    frame, names = dev
    split = modeling.chronological_split(frame, 0.2)
    est, _ = modeling.train_model(split, names, name, HYPER)
    return est, split.test[names].to_numpy(), names


def _promote(registry, model_path, sha, names, **meta):
    meta = {"sha256": sha, "estimator": "ridge", "features": names, **meta}
    return registry.promote(
        model_path, meta, run_id="R1", by="alice", at="2026-11-26T00:00:00+00:00", note="ok", policy="manual"
    )


def test_registry_integrity(dev, tmp_path):
    est, X_test, names = _fitted(dev, "gradient_boosting")  # the usual challenger: trees, the most types
    model_path = tmp_path / "run" / "model.skops"
    model_path.parent.mkdir()
    sha = persistence.save_model(est, model_path)
    assert zipfile.is_zipfile(model_path)  # the skops format, not a pickle
    registry = Registry(tmp_path / "outputs", "AAPL")
    assert registry.champion() is None and registry.load_champion() is None
    with pytest.raises(IntegrityError, match="refusing to promote"):
        registry.promote(model_path, {"sha256": "0" * 64}, run_id="R0", by="x", at="t", note="", policy="manual")
    record = _promote(registry, model_path, sha, names, library_versions=persistence.library_versions())
    assert record["approved_by"] == "alice" and record["run_id"] == "R1"
    assert record["model_file"] == f"{sha[:16]}.skops"
    assert set(record["library_versions"]) == {"python", "scikit-learn", "numpy", "pandas", "skops"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same versions, skops format: no warning at all
        loaded, rec = registry.load_champion()
    np.testing.assert_array_equal(loaded.predict(X_test), est.predict(X_test))
    stored = registry.dir / rec["model_file"]
    stored.write_bytes(b"not a pickle at all")
    with pytest.raises(IntegrityError, match="does not match the sha256"):
        registry.load_champion()
    history = (registry.dir / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["event"] == "promoted"


BUILT: list[str] = []


class Foreign:
    """A type no candidate uses; building it would run code from the model file."""

    def __setstate__(self, state):
        BUILT.append("Foreign")
        self.__dict__.update(state)


class Ordered(OrderedDict):
    def __setitem__(self, key, value):
        BUILT.append("Ordered")
        super().__setitem__(key, value)


@pytest.mark.parametrize("extra", [Foreign, Ordered], ids=["custom class", "OrderedDict subclass"])
def test_a_model_file_with_a_foreign_type_is_refused(dev, tmp_path, extra):
    est, _, names = _fitted(dev)
    thing = extra()
    if isinstance(thing, dict):
        thing.update(a=1)
    est.named_steps["regressor"].note_ = thing  # smuggled into an otherwise genuine model
    model_path = tmp_path / "run" / "model.skops"
    model_path.parent.mkdir()
    sha = persistence.save_model(est, model_path)
    registry = Registry(tmp_path / "outputs", "AAPL")
    _promote(registry, model_path, sha, names, library_versions=persistence.library_versions())
    BUILT.clear()
    with pytest.raises(IntegrityError, match=rf"holds type\(s\) {__name__}\.{extra.__name__}, which none of"):
        registry.load_champion()
    with pytest.raises(IntegrityError, match=extra.__name__):
        persistence.load_model(model_path, sha)
    assert BUILT == []  # refused before anything in the file was built


def test_a_legacy_joblib_champion_is_never_unpickled_by_a_run_and_converts_only_with_the_operators_sha256(
    dev, tmp_path
):
    est, X_test, names = _fitted(dev)
    registry = Registry(tmp_path / "outputs", "AAPL")
    registry.dir.mkdir(parents=True)
    legacy = registry.dir / "0123456789abcdef.joblib"  # a champion from before skops
    joblib.dump(est, legacy)
    sha = sha256_file(legacy)
    record = {"ticker": "AAPL", "model_file": legacy.name, "sha256": sha, "run_id": "R0", "features": names}
    registry.record_path.write_text(json.dumps(record))
    with pytest.raises(UntrustedFileError, match=r"legacy joblib \(pickle\) file: a run loads models only from skops"):
        registry.load_champion()  # even though its sha256 matches the record: the record proves nothing
    with pytest.raises(UntrustedFileError, match="legacy joblib"):
        persistence.load_model(legacy, sha)
    with pytest.raises(IntegrityError, match="loads models only from skops files"):
        registry.promote(legacy, {"sha256": sha}, run_id="R", by="x", at="t", note="", policy="manual")

    with pytest.raises(UntrustedFileError, match="not the 00 you said you trust: not unpickled"):
        registry.convert_legacy("00", by="ana", at="2026-12-03T00:00:00+00:00")
    converted = registry.convert_legacy(sha, by="ana", at="2026-12-03T00:00:00+00:00")
    assert converted["model_file"].endswith(".skops") and converted["converted_from"]["sha256"] == sha
    loaded, _ = registry.load_champion()
    np.testing.assert_array_equal(loaded.predict(X_test), est.predict(X_test))
    history = [json.loads(line) for line in (registry.dir / "history.jsonl").read_text().splitlines()]
    assert history[-1]["event"] == "converted" and history[-1]["converted_from"]["by"] == "ana"

    marker = tmp_path / "pwned"
    payload = registry.dir / "fedcba9876543210.joblib"
    payload.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    record = {**record, "model_file": payload.name, "sha256": sha256_file(payload)}  # the attacker's edit
    registry.record_path.write_text(json.dumps(record))
    with pytest.raises(UntrustedFileError, match="legacy joblib"):
        registry.load_champion()
    assert not marker.exists()  # never unpickled


@pytest.mark.parametrize("name", ["/tmp/x.skops", "../../elsewhere/x.skops", "sub/x.skops", "..", ""])
def test_a_registry_record_naming_a_file_outside_its_folder_is_refused(dev, tmp_path, name):
    est, _, names = _fitted(dev)
    outside = tmp_path / "elsewhere" / "x.skops"
    outside.parent.mkdir()
    sha = persistence.save_model(est, outside)
    registry = Registry(tmp_path / "outputs", "AAPL")
    registry.dir.mkdir(parents=True)
    registry.record_path.write_text(json.dumps({"model_file": name, "sha256": sha}))
    with pytest.raises(UntrustedFileError, match="not a plain file name in its own folder: refused"):
        registry.load_champion()


def test_a_registry_symlink_leading_out_is_refused(dev, tmp_path):
    est, _, names = _fitted(dev)
    outside = tmp_path / "elsewhere.skops"
    sha = persistence.save_model(est, outside)
    registry = Registry(tmp_path / "outputs", "AAPL")
    registry.dir.mkdir(parents=True)
    (registry.dir / "aaaa.skops").symlink_to(outside)
    registry.record_path.write_text(json.dumps({"model_file": "aaaa.skops", "sha256": sha}))
    with pytest.raises(UntrustedFileError, match="leads outside"):
        registry.load_champion()
    # the ticker folder itself a link to elsewhere: refused too
    other = Registry(tmp_path / "outputs", "MSFT")
    real = tmp_path / "msft_elsewhere"
    real.mkdir()
    persistence.save_model(est, real / "bbbb.skops")
    other.dir.symlink_to(real)
    other.record_path.write_text(json.dumps({"model_file": "bbbb.skops", "sha256": sha}))
    with pytest.raises(UntrustedFileError, match="leads outside"):
        other.load_champion()


def test_a_champion_trained_under_another_scikit_learn_warns_or_is_refused(dev, tmp_path):
    est, X_test, names = _fitted(dev)
    model_path = tmp_path / "run" / "model.skops"
    model_path.parent.mkdir()
    sha = persistence.save_model(est, model_path)
    registry = Registry(tmp_path / "outputs", "AAPL")
    _promote(registry, model_path, sha, names, library_versions=persistence.library_versions())
    record = json.loads(registry.record_path.read_text())
    record["library_versions"]["scikit-learn"] = "0.24.2"
    registry.record_path.write_text(json.dumps(record))
    installed = persistence.library_versions()["scikit-learn"]
    with pytest.warns(ModelWarning, match=f"trained under scikit-learn 0.24.2, this environment has {installed}"):
        loaded, _ = registry.load_champion()  # warn: the default
    np.testing.assert_array_equal(loaded.predict(X_test), est.predict(X_test))
    with pytest.raises(ModelVersionError, match=r"0\.24\.2.*refused \(model_version_mismatch: refuse\)"):
        registry.load_champion(on_version_mismatch="refuse")
    same_minor = installed.rsplit(".", 1)[0] + ".999"  # another patch release is the same major.minor
    record["library_versions"]["scikit-learn"] = same_minor
    registry.record_path.write_text(json.dumps(record))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.load_champion(on_version_mismatch="refuse")


# ------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def outputs(seeded_project, tmp_path_factory) -> Path:
    """A copy of the session's seeded outputs: one run of WINDOW, kept by the auto gate (no champion yet).
    Each test below (on this copy or on ``champion_outputs``) changes only ``ridge_alpha`` or ``random_seed``,
    so the data tasks are reused and the models run again (a new seed gives gradient boosting, the usual
    challenger, another model)."""
    out = tmp_path_factory.mktemp("gate-outputs")
    seeded_project.copy_outputs(out)
    return out


def _latest(outputs: Path) -> Path:
    return (outputs / "latest").resolve()


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def approved(seeded_project, tmp_path_factory) -> Path:
    """A copy of the seeded outputs with a champion approved the way a person approves one: a manual-policy run
    of the seeded window stops at the gate (exit 3), ``approve``, then ``resume`` finishes it."""
    out = seeded_project.copy_outputs(tmp_path_factory.mktemp("gate-approved"))
    stopped = run_runner(*WINDOW, "-p", "approval_policy", "manual", outputs=out)
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    run_id = _latest(out).name
    decided = run_runner("approve", run_id, "--by", "alice", "--note", "fixture", outputs=out)
    assert decided.returncode == 0, decided.stderr
    finished = run_runner("resume", run_id, outputs=out)
    assert finished.returncode == 0, finished.stderr
    assert json.loads((out / "models" / "AAPL" / "champion.json").read_text())["run_id"] == run_id
    return out


@pytest.fixture()
def champion_outputs(approved, tmp_path) -> Path:
    """This test's own copy of ``approved``: what another test did to its champion never reaches it, so each
    passes alone and in any order."""
    return shutil.copytree(approved, tmp_path / "outputs", symlinks=True, ignore=UNCOPIED)


def test_manual_gate_stops_with_exit_3_and_approve_then_resume_finishes(outputs):
    proc = run_runner(*WINDOW, "-p", "ridge_alpha", "1.5", "-p", "approval_policy", "manual", outputs=outputs)
    assert proc.returncode == 3, proc.stderr
    run_dir = _latest(outputs)
    run_id = run_dir.name
    assert f"python runner.py approve {run_id} --by NAME" in proc.stdout
    assert f"python runner.py reject {run_id} --by NAME" in proc.stdout
    assert "05_model_evaluation.html" in proc.stdout
    manifest = _manifest(run_dir)
    assert manifest["status"] == "awaiting_approval" and manifest["gate"]["status"] == "awaiting_approval"
    assert manifest["tasks"]["reporting"]["status"] == "pending"
    assert not (outputs / "models" / "AAPL" / "champion.json").exists()  # nothing promoted without approval
    assert '<td class="st approved">approved</td>' not in (outputs / "index.html").read_text()
    # the forecast in effect tonight is recorded at the gate, before anyone decides (no champion: the challenger's)
    # (an earlier run of this module may have published the very same forecast: then it is not appended twice)
    ledger = (outputs / "ledger" / "AAPL.csv").read_text()
    for_date = json.loads((run_dir / "reports" / "forecast.json").read_text())["for_date"]
    sha = manifest["tasks"]["model_training"]["artifacts"]["model/model_refit.skops"]["sha256"]
    mine = [line for line in ledger.splitlines() if f",{for_date}," in line and f",{sha}," in line]
    assert len(mine) == 1 and ",challenger,challenger," in mine[0], ledger
    assert manifest["ledger"]["status"] == "recorded"

    again = run_runner("resume", run_id, outputs=outputs)
    assert again.returncode == 3  # still waiting

    # a model file changed after training is never promoted, whoever approves it
    model = run_dir / "model" / "model.skops"
    original = model.read_bytes()
    model.write_bytes(original + b"\0")
    try:
        refused = run_runner("approve", run_id, "--by", "mallory", outputs=outputs)
    finally:
        model.write_bytes(original)
    assert refused.returncode == 1 and "does not match the sha256" in refused.stderr
    assert not (outputs / "models" / "AAPL" / "champion.json").exists()
    assert _manifest(run_dir)["status"] == "awaiting_approval"

    approved = run_runner("approve", run_id, "--by", "alice", "--note", "reviewed notebook 05", outputs=outputs)
    assert approved.returncode == 0, approved.stderr
    # the run browser is rebuilt at once: the run's page and the index show the decision
    assert "approved by alice" in (run_dir / "index.html").read_text()
    assert '<td class="st approved">approved</td>' in (outputs / "index.html").read_text()
    assert "resume" in approved.stdout
    champion = json.loads((outputs / "models" / "AAPL" / "champion.json").read_text())
    assert champion["run_id"] == run_id and champion["approved_by"] == "alice" and champion["policy"] == "manual"
    assert (
        champion["sha256"] == _manifest(run_dir)["tasks"]["model_training"]["artifacts"]["model/model.skops"]["sha256"]
    )

    finished = run_runner("resume", run_id, outputs=outputs)
    assert finished.returncode == 0, finished.stderr
    assert (outputs / "ledger" / "AAPL.csv").read_text() == ledger  # the approval did not rewrite what was published
    manifest = _manifest(run_dir)
    assert manifest["status"] == "success"
    assert manifest["gate"]["decision"] == "approved" and manifest["gate"]["by"] == "alice"
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "approved by alice" in report and "reviewed notebook 05" in report

    second = run_runner("approve", run_id, "--by", "bob", outputs=outputs)
    assert second.returncode == 2 and "not awaiting approval" in second.stderr


def test_reject_keeps_the_champion_and_reporting_records_it(champion_outputs):
    before = json.loads((champion_outputs / "models" / "AAPL" / "champion.json").read_text())
    proc = run_runner(*WINDOW, "-p", "random_seed", "7", "-p", "approval_policy", "manual", outputs=champion_outputs)
    assert proc.returncode == 3, proc.stderr
    run_id = _latest(champion_outputs).name
    rejected = run_runner("reject", run_id, "--by", "bob", "--note", "edge is noise", outputs=champion_outputs)
    assert rejected.returncode == 0, rejected.stderr
    assert json.loads((champion_outputs / "models" / "AAPL" / "champion.json").read_text()) == before
    finished = run_runner("resume", run_id, outputs=champion_outputs)
    assert finished.returncode == 0, finished.stderr
    report = (_latest(champion_outputs) / "reports" / "analysis.md").read_text()
    assert "rejected by bob" in report and "edge is noise" in report
    evaluation = json.loads((_latest(champion_outputs) / "reports" / "evaluation.json").read_text())
    assert "champion" in evaluation["metrics"]  # compared with the champion on the same held-out days
    history = (champion_outputs / "models" / "AAPL" / "history.jsonl").read_text()
    assert '"event": "rejected"' in history


def test_auto_policy_keeps_or_promotes_by_thresholds(champion_outputs):
    champion_before = json.loads((champion_outputs / "models" / "AAPL" / "champion.json").read_text())
    kept = run_runner(*WINDOW, "-p", "random_seed", "8", "-p", "approval_policy", "auto", outputs=champion_outputs)
    assert kept.returncode == 0, kept.stderr
    decision = json.loads((_latest(champion_outputs) / "reports" / "decision.json").read_text())
    assert decision["decision"] == "kept" and decision["reasons"]
    assert json.loads((champion_outputs / "models" / "AAPL" / "champion.json").read_text()) == champion_before

    failed = [c["check"] for c in decision["checks"] if not c["passed"]]
    assert failed and decision["reasons"] == [f"{c} not met" for c in failed]
    # promotion of a model with a real edge: tests/e2e/test_honesty.py (a predictable price series, auto policy)


def test_a_tampered_champion_is_never_loaded(champion_outputs, tmp_path):
    champion = json.loads((champion_outputs / "models" / "AAPL" / "champion.json").read_text())
    path = champion_outputs / "models" / "AAPL" / champion["model_file"]
    original = path.read_bytes()
    marker = tmp_path / "pwned"
    payload = f"touch {marker}".encode()
    path.write_bytes(b"cos\nsystem\n(S'" + payload + b"'\ntR.")  # a malicious pickle must not be unpickled
    import pickle

    pickle.loads(path.read_bytes())  # the payload is real: unpickled, it runs ...
    assert marker.exists()
    marker.unlink()
    try:
        proc = run_runner(*WINDOW, "-p", "random_seed", "9", "-p", "approval_policy", "auto", outputs=champion_outputs)
    finally:
        path.write_bytes(original)
    assert proc.returncode == 1
    assert "IntegrityError" in proc.stderr and "does not match the sha256" in proc.stderr
    assert "model_evaluation" in proc.stderr
    assert not marker.exists()  # ... and the pipeline never unpickled it


def test_a_champion_from_another_scikit_learn_through_the_runner(champion_outputs):
    """The approved champion records what it was trained under; a run whose champion names another
    scikit-learn fails with ``model_version_mismatch: refuse`` and, by default, says so in notebook 05."""
    path = champion_outputs / "models" / "AAPL" / "champion.json"
    original = path.read_text()
    record = json.loads(original)
    assert record["library_versions"] == persistence.library_versions()
    record["library_versions"]["scikit-learn"] = "0.24.2"
    path.write_text(json.dumps(record))
    try:
        refused = run_runner(
            *WINDOW, "-p", "random_seed", "10", "-p", "model_version_mismatch", "refuse", outputs=champion_outputs
        )
        assert refused.returncode == 1, refused.stderr
        assert "ModelVersionError" in refused.stderr and "trained under scikit-learn 0.24.2" in refused.stderr
        assert "model_evaluation" in refused.stderr
        warned = run_runner(*WINDOW, "-p", "random_seed", "10", outputs=champion_outputs)
    finally:
        path.write_text(original)
    assert warned.returncode == 0, warned.stderr
    executed = (_latest(champion_outputs) / "notebooks" / "05_model_evaluation.ipynb").read_text()
    assert "ModelWarning" in executed and "trained under scikit-learn 0.24.2" in executed
