"""The model registry: one champion per ticker under ``outputs/models/<TICKER>/``.

``champion.json`` names the champion's model file, its sha256, the run that produced it, how it was chosen
(policy), who approved it, when and why; ``history.jsonl`` keeps every decision. Model files are stored by
content (``<sha256[:16]>.skops``; a champion from before skops keeps its ``.joblib``) and loaded only when their
sha256 matches the record. The record names the library versions the champion was trained under; loading it
under another scikit-learn major.minor warns or fails (``model_version_mismatch``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from aapl_lib.errors import CorruptStateError, IntegrityError, PipelineError
from aapl_lib.io.iorw import atomic_write_text, read_json, sha256_file, write_json
from aapl_lib.io.locks import PathLock
from aapl_lib.pipeline.parameters import default
from aapl_lib.store import layout


class Registry:
    """The champion of one ticker."""

    def __init__(self, outputs_dir: Path, ticker: str) -> None:
        if "/" in ticker or ticker in (".", ".."):
            raise PipelineError(f"ticker {ticker!r} cannot name a registry folder")
        self.dir = layout.registry_dir(outputs_dir, ticker)
        self.ticker = ticker

    @property
    def record_path(self) -> Path:
        return self.dir / "champion.json"

    def champion(self) -> dict[str, Any] | None:
        """The champion's record, or None when the ticker has none yet; a damaged record is a
        CorruptStateError naming the file (never a guess at which model is the champion)."""
        if not self.record_path.is_file():
            return None
        try:
            record = read_json(self.record_path)
        except (ValueError, UnicodeDecodeError) as exc:
            record, why = None, f"not valid JSON: {exc}"
        else:
            why = "it lacks sha256 or model_file"
        if not isinstance(record, dict) or not {"sha256", "model_file"} <= set(record):
            raise CorruptStateError(
                f"the champion record {self.record_path} is damaged ({why}): restore it from a backup, or from the "
                f"last 'promoted' line of {self.dir / 'history.jsonl'}, or delete it to go on without a champion"
            )
        return record

    def champion_sha(self) -> str:
        """The champion's sha256, or ``none``."""
        record = self.champion()
        return record["sha256"] if record else "none"

    def load_champion(self, on_version_mismatch: str = default("model_version_mismatch")):
        """``(estimator, record)`` of the champion, or None; the file must match the recorded sha256 and hold
        only allowed types. Trained under another scikit-learn major.minor: a ModelWarning, or with
        ``on_version_mismatch="refuse"`` a ModelVersionError (before the file is read)."""
        from aapl_lib.modeling.persistence import check_versions, load_model

        record = self.champion()
        if record is None:
            return None
        path = self.dir / record["model_file"]
        check_versions(
            record.get("library_versions"), f"the champion of {self.ticker} ({self.record_path})", on_version_mismatch
        )
        if not path.is_file():
            raise IntegrityError(
                f"the registry's champion file {path} is missing: restore it, or remove "
                f"{self.record_path} to start without a champion"
            )
        if sha256_file(path) != record["sha256"]:  # said here in the registry's words; load_model checks again
            raise IntegrityError(
                f"the registry's champion file {path} does not match the sha256 in "
                f"{self.record_path}: it was changed or replaced; it will not be loaded. Restore "
                "it, or remove champion.json to start without a champion"
            )
        return load_model(path, record["sha256"]), record

    def lock(self) -> PathLock:
        return PathLock(self.dir / ".lock", f"the model registry of {self.ticker}", timeout=30)

    def promote(
        self,
        model_path: Path,
        meta: dict[str, Any],
        *,
        run_id: str,
        by: str,
        at: str,
        note: str,
        policy: str,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Make the run's model the champion (its file must match ``meta['sha256']``)."""
        actual = sha256_file(model_path)
        if actual != meta["sha256"]:
            raise IntegrityError(
                f"{model_path} does not match the sha256 recorded at training ({meta['sha256'][:12]}"
                f"…): refusing to promote a changed model file"
            )
        with self.lock():
            self.dir.mkdir(parents=True, exist_ok=True)
            name = f"{actual[:16]}{model_path.suffix}"  # .skops (.joblib: a run from before skops)
            target = self.dir / name
            if not target.is_file():
                tmp = self.dir / f".{name}.tmp"
                shutil.copy2(model_path, tmp)
                tmp.replace(target)
            previous = self.champion()
            record = {
                "ticker": self.ticker,
                "model_file": name,
                "sha256": actual,
                "run_id": run_id,
                "estimator": meta.get("estimator"),
                "hyperparameters": meta.get("hyperparameters"),
                "features": meta.get("features"),
                "train_window": meta.get("split", {}).get("train_window"),
                "library_versions": meta.get("library_versions"),  # what it was trained under
                "policy": policy,
                "approved_by": by,
                "approved_at": at,
                "note": note,
                "held_out_metrics": metrics,
                "previous_champion": previous["sha256"] if previous else None,
            }
            write_json(self.record_path, record)
            self._history({"event": "promoted", **record})
            return record

    def record_decision(self, event: dict[str, Any]) -> None:
        """Append a decision that did not change the champion to the history."""
        with self.lock():
            self.dir.mkdir(parents=True, exist_ok=True)
            self._history(event)

    def _history(self, event: dict[str, Any]) -> None:
        path = self.dir / "history.jsonl"
        old = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        if old and not old.endswith("\n"):  # a line cut short by a crash stays on its own line
            old += "\n"
        atomic_write_text(path, old + json.dumps(event, sort_keys=True, default=str) + "\n")
