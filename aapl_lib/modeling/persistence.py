"""Model files: written with skops (no pickle, so loading runs no code from the file) and loaded only when
their sha256 matches the record and every type they hold is one our candidates use.

A run never unpickles anything: a sha256 recorded in the same writable folder as the file proves nothing
against whoever can write there, and a pickle runs any code it holds. A joblib (pickle) model from before
skops is refused with the command that converts it; that command (:func:`unpickle_trusted`, run by
``runner.py convert-model``) is the one place a pickle is ever loaded, and only after the file matched a
sha256 the operator typed. A model trained under another scikit-learn major.minor is reported (``warn``) or
refused (``refuse``), as the ``model_version_mismatch`` parameter says.
"""

from __future__ import annotations

import io
import json
import platform
import warnings
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aapl_lib.errors import IntegrityError, ModelVersionError, ModelWarning, UntrustedFileError
from aapl_lib.io.iorw import atomic_write_bytes, sha256_file
from aapl_lib.pipeline.parameters import default

MODEL_FILE = "model.skops"
LEGACY_SUFFIX = ".joblib"
# Every non-builtin type a fitted candidate (StandardScaler + LinearRegression / Ridge /
# GradientBoostingRegressor) holds. A file naming any other type is refused before anything in it is built,
# whether or not skops itself would trust that type.
ALLOWED_TYPES = frozenset(
    {
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "numpy.random.mtrand.RandomState",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.dummy.DummyRegressor",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
    }
)
VERSIONED = ("scikit-learn", "numpy", "pandas", "skops")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry: no clock in the file


def library_versions() -> dict[str, str]:
    """Versions of the interpreter and the libraries a saved model depends on."""
    return {"python": platform.python_version(), **{pkg: version(pkg) for pkg in VERSIONED}}


def _canonical(raw: bytes) -> bytes:
    """skops names objects and array files after ``id()`` and stamps entries with the clock; number them in
    schema order and give every entry one fixed time, so the same model is the same bytes (and sha256)."""
    names: dict[str, str] = {}
    ids: dict[int, int] = {}
    with zipfile.ZipFile(io.BytesIO(raw)) as src:
        schema = json.loads(src.read("schema.json"))

        def rename(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("file"), str):
                    old = node["file"]
                    node["file"] = names.setdefault(old, f"{len(names)}{Path(old).suffix}")
                if isinstance(node.get("__id__"), int):  # shared objects keep one number
                    node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
                for value in node.values():
                    rename(value)
            elif isinstance(node, list):
                for value in node:
                    rename(value)

        rename(schema)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            entries = [("schema.json", json.dumps(schema, indent=2).encode())]
            entries += [(new, src.read(old)) for old, new in names.items()]
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED  # tree arrays shrink ~30x
                dst.writestr(info, data, compresslevel=6)
    return out.getvalue()


def save_model(estimator: Any, path: str | Path) -> str:
    """Write the fitted pipeline in the skops format (atomically, byte-identical for the same model);
    return its sha256."""
    import skops.io

    atomic_write_bytes(path, _canonical(skops.io.dumps(estimator)))
    return sha256_file(path)


def trusted_types(path: str | Path) -> list[str]:
    """The types the skops file at ``path`` holds that skops does not trust by itself, when every one of them
    is in :data:`ALLOWED_TYPES`; otherwise an IntegrityError naming the foreign types."""
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IntegrityError(f"model file {path} is not a skops model file ({exc}); re-run model_training") from None
    foreign = [t for t in untrusted if t not in ALLOWED_TYPES]
    if foreign:
        raise IntegrityError(
            f"model file {path} holds type(s) {', '.join(foreign)}, which none of our candidate models use: "
            "it will not be loaded. Re-run model_training to write a model from this pipeline"
        )
    return untrusted


def check_format(path: str | Path, convert_hint: str = "re-run model_training") -> None:
    """An UntrustedFileError unless ``path`` is a skops file by name: a run loads no other format."""
    suffix = Path(path).suffix
    if suffix != Path(MODEL_FILE).suffix:
        what = (
            "a legacy joblib (pickle) file"
            if suffix == LEGACY_SUFFIX
            else f"not a skops file ({suffix or 'no suffix'})"
        )
        raise UntrustedFileError(
            f"model file {path} is {what}: a run loads models only from skops files, which cannot run code, and "
            f"never unpickles a file from the outputs folder; {convert_hint}"
        )


def load_model(path: str | Path, expected_sha256: str) -> Any:
    """Load a skops model file only when its sha256 matches the recorded one and every type it holds is
    allowed. Any other format (a legacy joblib pickle above all) is refused before the file is read."""
    check_format(path)
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise IntegrityError(
            f"model file {path} has sha256 {actual[:12]}… but the metadata records "
            f"{expected_sha256[:12]}…: it was changed after training; re-run model_training"
        )
    import skops.io

    return skops.io.load(path, trusted=trusted_types(path))


def unpickle_trusted(path: str | Path, trusted_sha256: str) -> Any:
    """Unpickle a legacy joblib model: the one place the project ever loads a pickle, called only by the
    operator's ``convert-model`` command, and only when the file's sha256 is the one the operator typed
    (the operator, not a file in outputs/, vouches for it)."""
    actual = sha256_file(path)
    if actual != trusted_sha256.strip().lower():
        raise UntrustedFileError(
            f"{path} has sha256 {actual}, not the {trusted_sha256} you said you trust: not unpickled. "
            "Check which file you mean to trust"
        )
    import joblib

    return joblib.load(path)


def version_note(recorded: dict[str, Any] | None, what: str) -> str | None:
    """A sentence when ``recorded`` (a model's ``library_versions``) names another scikit-learn major.minor
    than the one installed (or none at all); None when they agree."""
    installed = version("scikit-learn")
    trained = (recorded or {}).get("scikit-learn")
    if trained is None:
        return f"{what} records no scikit-learn version (installed: {installed})"
    if trained.split(".")[:2] != installed.split(".")[:2]:
        return f"{what} was trained under scikit-learn {trained}, this environment has {installed}"
    return None


def check_versions(recorded: dict[str, Any] | None, what: str, policy: str = default("model_version_mismatch")) -> None:
    """Warn (``policy`` ``warn``) or raise ModelVersionError (``refuse``) when :func:`version_note` finds a
    scikit-learn major.minor other than the installed one."""
    note = version_note(recorded, what)
    if note is None:
        return
    if policy == "refuse":
        raise ModelVersionError(
            f"{note}: refused (model_version_mismatch: refuse). Retrain and promote a model under this "
            "scikit-learn, install the version it was trained under, or set -p model_version_mismatch warn"
        )
    warnings.warn(f"{note}; its predictions may differ (model_version_mismatch: warn)", ModelWarning, stacklevel=2)
