"""The model that publishes: the evaluated method refit on every labelled row.

Evaluation judges the *method* (estimator, hyperparameters, features, seed) on held-out days a model trained on
the training split alone never saw. The newest ``test_fraction`` of the rows never reach that model, so a
forecast made with it comes from a model that stopped learning months before the forecast day. A walk-forward
operator refits the same method on every row whose next-day target is known before forecasting; this module
does that, records what it did, and says which model made each forecast (``publish_model``: ``refit``, the
default, or ``evaluated``, the held-out-judged model itself).

The refit never touches a held-out metric: notebook 05 scores only ``model/model.skops`` on the held-out days.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aapl_lib.features.build import TARGET
from aapl_lib.modeling.persistence import library_versions
from aapl_lib.pipeline.parameters import PARAMETERS

REFIT_FILE = "model_refit.skops"
PUBLISH_CHOICES = PARAMETERS["publish_model"].choices

if TYPE_CHECKING:  # the runner's ledger step imports this module: no scikit-learn at import time
    import pandas as pd
    from sklearn.pipeline import Pipeline


def labelled_rows(features: pd.DataFrame) -> pd.DataFrame:
    """Every row whose next-day target is known, oldest first (the last price row has none: its next day has
    not happened)."""
    return features[features[TARGET].notna()].sort_index()


def refit_model(
    features: pd.DataFrame, names: list[str], name: str, params: dict[str, Any]
) -> tuple[Pipeline, dict[str, Any], pd.DataFrame]:
    """Fit candidate ``name`` (a fresh, seeded pipeline: nothing carried over from the evaluated fit) on every
    labelled row. Returns ``(fitted, in_sample_metrics, rows_used)``."""
    from aapl_lib.modeling.candidates import make_candidate
    from aapl_lib.modeling.metrics import regression_metrics

    rows = labelled_rows(features)
    estimator = make_candidate(name, params)
    X, y = rows[names].to_numpy(), rows[TARGET].to_numpy()
    estimator.fit(X, y)
    return estimator, regression_metrics(y, estimator.predict(X)), rows


def refit_metadata(
    evaluated_meta: dict[str, Any], rows: pd.DataFrame, *, sha256: str, in_sample: dict[str, Any]
) -> dict[str, Any]:
    """The refit's record (``model/model_refit_meta.json``): the evaluated model's method, the rows it was fitted
    on and ``trained_to``, the last of them. No timestamp: the same data and params give the same bytes."""
    return {
        "ticker": evaluated_meta["ticker"],
        "model_file": REFIT_FILE,
        "sha256": sha256,
        "fit": "refit",
        "refit_of": evaluated_meta["sha256"],
        "estimator": evaluated_meta["estimator"],
        "hyperparameters": evaluated_meta["hyperparameters"],
        "random_seed": evaluated_meta["random_seed"],
        "features": evaluated_meta["features"],
        "target": TARGET,
        "train_window": {"first": f"{rows.index.min():%Y-%m-%d}", "last": f"{rows.index.max():%Y-%m-%d}"},
        "train_rows": len(rows),
        "trained_to": f"{rows.index.max():%Y-%m-%d}",
        "fitted_on": "every labelled row (each row whose next-day return is known), held-out days included",
        "in_sample_metrics": in_sample,
        "library_versions": library_versions(),
    }


def evaluated_trained_to(meta: dict[str, Any]) -> str:
    """The evaluated model's last training day (the end of the training split)."""
    return meta["split"]["train_window"]["last"]


def challenger_publisher(publish_model: str, meta: dict[str, Any], refit_meta: dict[str, Any]) -> dict[str, Any]:
    """Which of this run's two fits of the challenger publishes its forecast, with its file, sha256 and
    ``trained_to``."""
    if publish_model not in PUBLISH_CHOICES:
        raise ValueError(f"publish_model {publish_model!r}: choose one of {', '.join(PUBLISH_CHOICES)}")
    if publish_model == "refit":
        return {
            "fit": "refit",
            "model_file": f"model/{refit_meta['model_file']}",
            "sha256": refit_meta["sha256"],
            "trained_to": refit_meta["trained_to"],
        }
    return {
        "fit": "evaluated",
        "model_file": f"model/{meta['model_file']}",
        "sha256": meta["sha256"],
        "trained_to": evaluated_trained_to(meta),
    }


def champion_publisher(publish_model: str, record: dict[str, Any]) -> dict[str, Any]:
    """Which of the champion's fits publishes: its refit when asked and the registry holds one (champions
    promoted before refits existed have none: their evaluated model publishes, and the record says why)."""
    has_refit = bool(record.get("refit_file"))
    if publish_model == "refit" and has_refit:
        return {
            "fit": "refit",
            "model_file": record["refit_file"],
            "sha256": record["refit_sha256"],
            "trained_to": record.get("refit_trained_to"),
        }
    out = {
        "fit": "evaluated",
        "model_file": record["model_file"],
        "sha256": record["sha256"],
        "trained_to": (record.get("train_window") or {}).get("last"),
    }
    if publish_model == "refit":
        out["note"] = "the champion was promoted before refits were recorded: its evaluated model publishes"
    return out


def describe(published_by: dict[str, Any]) -> str:
    """``refit model (sha256 0123456789ab, trained to 2013-01-14)``."""
    return (
        f"{published_by['fit']} model (sha256 {str(published_by['sha256'])[:12]}, "
        f"trained to {published_by['trained_to']})"
    )


def scope_sentence(published_by: dict[str, Any], evaluated_to: str) -> str:
    """What the held-out numbers describe versus what made the forecast, in one sentence."""
    held_out = (
        "The held-out numbers describe the method (this estimator, hyperparameters, features and seed) trained on "
        f"the training split, up to {evaluated_to}, and scored on days it did not see"
    )
    if published_by["fit"] == "refit":
        return (
            f"{held_out}; this forecast is by the same method refit on every labelled row, up to "
            f"{published_by['trained_to']}, which has no held-out score of its own."
        )
    return f"{held_out}; this forecast is by that evaluated model itself (publish_model: evaluated)."


def label(
    forecast: dict[str, Any], published_by: dict[str, dict[str, Any] | None], evaluated_to: dict[str, str | None]
) -> dict[str, Any]:
    """``forecast`` (from :func:`aapl_lib.modeling.evaluation.forecasts`) with each role's ``published_by`` (the
    model that made it) and ``scope`` (what the held-out numbers describe versus that model).
    ``evaluated_to[role]``: the end of that role's training split."""
    out = dict(forecast)
    for role, by in published_by.items():
        if out.get(role) and by is not None:
            out[role] = {**out[role], "published_by": by, "scope": scope_sentence(by, evaluated_to.get(role) or "?")}
    return out


def forecasts_table(fc: dict[str, Any]) -> pd.DataFrame:
    """:func:`aapl_lib.modeling.evaluation.forecasts_table` with the model that made each forecast."""
    from aapl_lib.modeling.evaluation import forecasts_table as table_of

    table = table_of(fc)
    table["made by"] = [
        describe(fc[role]["published_by"]) if fc[role].get("published_by") else "n/a" for role in table.index
    ]
    return table


def ledger_models(forecast: dict[str, Any], meta: dict[str, Any], champion: dict[str, Any]) -> dict[str, dict]:
    """Per role, the ``sha256``, ``trained_to`` and ``fit`` of the model that made the forecast, for the ledger:
    from ``forecast.json``'s ``published_by``; a run from before refits falls back to the evaluated models
    (``model_meta.json`` and the evaluation's champion record)."""
    fallback = {
        "challenger": {"sha256": meta["sha256"], "trained_to": evaluated_trained_to(meta)},
        "champion": {"sha256": champion.get("sha256"), "trained_to": (champion.get("train_window") or {}).get("last")},
    }
    out = {}
    for role, old in fallback.items():
        by = (forecast.get(role) or {}).get("published_by")
        out[role] = {"sha256": by["sha256"], "trained_to": by["trained_to"], "fit": by["fit"]} if by else old
    return out
