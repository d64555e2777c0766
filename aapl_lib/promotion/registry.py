"""The model registry: one champion per ticker under ``outputs/models/<TICKER>/``.

``champion.json`` names the champion's model file (the evaluated model) and its sha256, its refit (``refit_file``,
``refit_sha256``, ``refit_trained_to``: the same method fitted on every labelled row, which publishes), the run that
produced it, how it was chosen (policy), who approved it, when and why; ``history.jsonl`` keeps every decision. Model
files are stored by content (``<sha256[:16]>.skops``) and loaded only when their sha256 matches the record. The record
names the library versions the champion was trained under; loading it under another scikit-learn major.minor warns or
fails (``model_version_mismatch``).

The registry is data that may be hostile (docs/trust.md): the record's ``model_file`` and ``refit_file`` must be plain
file names in the ticker's own folder (an absolute path, ``..`` or a symlink leading out is refused), and only a skops
file is ever loaded. A champion from before skops (``.joblib``, a pickle) is refused with the command that converts it,
:meth:`Registry.convert_legacy`, which the operator types naming the sha256 they trust.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from aapl_lib.errors import CorruptStateError, IntegrityError, PipelineError
from aapl_lib.io.containment import inside, plain_name
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

    def champion_path(self, record: dict[str, Any], key: str = "model_file") -> Path:
        """The champion's model file: ``record[key]`` (``model_file``, or ``refit_file`` for its refit) as a plain
        name inside this ticker's folder, the folder and the file inside ``outputs/models`` once symlinks are
        followed; an UntrustedFileError otherwise (an absolute path, ``..``, a link leading out)."""
        name = plain_name(record.get(key), f"the champion record {self.record_path}")
        return inside(self.dir.parent, f"{self.dir.name}/{name}", f"the champion record {self.record_path}")

    def load_champion(self, on_version_mismatch: str = default("model_version_mismatch")):
        """``(estimator, record)`` of the champion, or None; the file must be a skops file named plainly inside
        the ticker's folder, match the recorded sha256 and hold only allowed types. Trained under another
        scikit-learn major.minor: a ModelWarning, or with ``on_version_mismatch="refuse"`` a ModelVersionError
        (before the file is read). A legacy pickle is refused, never unpickled."""
        from aapl_lib.modeling.persistence import check_format, check_versions

        record = self.champion()
        if record is None:
            return None
        check_format(self.champion_path(record), self._convert_hint(record))  # a pickle: refused before all else
        check_versions(
            record.get("library_versions"), f"the champion of {self.ticker} ({self.record_path})", on_version_mismatch
        )
        return self._load_checked(record, "model_file", "sha256"), record

    def load_refit(self, record: dict[str, Any]):
        """The champion's refit (its method fitted on every labelled row of the run that promoted it: what
        publishes its forecasts), or None when ``record`` names none (promoted before refits were recorded). The
        same checks as the evaluated model: a plain skops name inside the folder, the sha256, allowed types; the
        library versions were checked by :meth:`load_champion` (both files come from one run)."""
        if not record.get("refit_file"):
            return None
        if not record.get("refit_sha256"):
            raise CorruptStateError(f"the champion record {self.record_path} names a refit_file but no refit_sha256")
        return self._load_checked(record, "refit_file", "refit_sha256")

    def _load_checked(self, record: dict[str, Any], file_key: str, sha_key: str):
        from aapl_lib.modeling.persistence import check_format, load_model

        path = self.champion_path(record, file_key)
        check_format(path, self._convert_hint(record))
        if not path.is_file():
            raise IntegrityError(
                f"the registry's champion file {path} is missing: restore it, or remove "
                f"{self.record_path} to start without a champion"
            )
        if sha256_file(path) != record[sha_key]:  # said here in the registry's words; load_model checks again
            raise IntegrityError(
                f"the registry's champion file {path} does not match the sha256 in "
                f"{self.record_path}: it was changed or replaced; it will not be loaded. Restore "
                "it, or remove champion.json to start without a champion"
            )
        return load_model(path, record[sha_key])

    def _convert_hint(self, record: dict[str, Any]) -> str:
        return (
            f"if you trust this file (champion.json records sha256 {record.get('sha256')}), convert it once with "
            f"'python runner.py convert-model {self.ticker} --trust-sha256 SHA256 --by NAME'; or remove "
            f"{self.record_path} to start without a champion"
        )

    def convert_legacy(self, trusted_sha256: str, *, by: str, at: str) -> dict[str, Any]:
        """Convert a legacy joblib champion to a skops file: unpickle it (only when its sha256 is
        ``trusted_sha256``, the one the operator typed), check it holds only allowed types, store it by content
        and point ``champion.json`` at it; the history records who converted what. Returns the new record."""
        from aapl_lib.modeling.persistence import LEGACY_SUFFIX, MODEL_FILE, save_model, trusted_types, unpickle_trusted

        with self.lock():
            record = self.champion()
            if record is None:
                raise PipelineError(
                    f"{self.ticker} has no champion ({self.record_path} does not exist): nothing to convert"
                )
            path = self.champion_path(record)
            if path.suffix != LEGACY_SUFFIX:
                raise PipelineError(
                    f"the champion of {self.ticker} ({path.name}) is not a legacy joblib file: nothing to convert"
                )
            estimator = unpickle_trusted(path, trusted_sha256)
            tmp = self.dir / f".converting{Path(MODEL_FILE).suffix}"
            try:
                save_model(estimator, tmp)
                trusted_types(tmp)  # only the types our candidates use, or refused
                sha = sha256_file(tmp)
                name = f"{sha[:16]}{Path(MODEL_FILE).suffix}"
                tmp.replace(self.dir / name)
            finally:
                tmp.unlink(missing_ok=True)
            converted = {
                **record,
                "model_file": name,
                "sha256": sha,
                "converted_from": {
                    "model_file": path.name,
                    "sha256": record.get("sha256"),
                    "trusted_sha256": trusted_sha256,
                    "by": by,
                    "at": at,
                },
            }
            write_json(self.record_path, converted)
            self._history({"event": "converted", **converted})
            return converted

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
        refit: tuple[Path, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Make the run's model the champion (a skops file that matches ``meta['sha256']``), and with it
        ``refit`` — ``(path, refit_meta)``, the same method refit on every labelled row, which publishes the
        champion's forecasts. Both are stored by content; ``model_file`` stays the evaluated model, the one a
        challenger is compared with on held-out days (the refit has seen those days)."""
        actual = self._checked_sha(model_path, meta["sha256"])
        refit_sha = self._checked_sha(refit[0], refit[1]["sha256"]) if refit else None
        with self.lock():
            self.dir.mkdir(parents=True, exist_ok=True)
            name = self._store(model_path, actual)
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
            if refit:
                record.update(
                    refit_file=self._store(refit[0], refit_sha),
                    refit_sha256=refit_sha,
                    refit_trained_to=refit[1].get("trained_to"),
                    refit_train_window=refit[1].get("train_window"),
                )
            write_json(self.record_path, record)
            self._history({"event": "promoted", **record})
            return record

    @staticmethod
    def _checked_sha(path: Path, recorded: str) -> str:
        """``path``'s sha256 when it is a skops file matching ``recorded``; refused otherwise."""
        from aapl_lib.modeling.persistence import check_format

        check_format(path, "re-run model_training to write a skops model, then decide again")
        actual = sha256_file(path)
        if actual != recorded:
            raise IntegrityError(
                f"{path} does not match the sha256 recorded at training ({recorded[:12]}"
                f"…): refusing to promote a changed model file"
            )
        return actual

    def _store(self, path: Path, sha: str) -> str:
        """Copy ``path`` into the ticker's folder by content (``<sha256[:16]>.skops``) once; its plain name."""
        name = f"{sha[:16]}{path.suffix}"
        target = self.dir / name
        if not target.is_file():
            tmp = self.dir / f".{name}.tmp"
            shutil.copy2(path, tmp)
            tmp.replace(target)
        return name

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
