"""Frame schemas (pandera), declared once and enforced whenever a step reads or writes a frame.

* raw prices:     what a source gave, in our column names (values not yet trusted);
* cleaned prices: unique sorted trading days, positive prices, consistent OHLC, non-negative volume;
* features:       unique sorted days, every feature finite, the target missing on the last row only.

A violation raises :class:`SchemaViolation`: the first line names the step, the frame, the column and the
rule; the lines after it are a table of the first offending rows (the executed notebook shows it too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aapl_lib.errors import PipelineError

if TYPE_CHECKING:
    import pandas as pd

PRICES = ["open", "high", "low", "close"]
MAX_ROWS_SHOWN = 5


class SchemaViolation(PipelineError):
    """A frame breaks its declared schema."""


def _pa():
    import pandera.pandas as pa

    return pa


def _date_index(pa, *, unique: bool, sorted_: bool):
    import pandas as pd

    checks = [
        pa.Check(
            lambda idx: pd.api.types.is_datetime64_any_dtype(idx),
            element_wise=False,
            name="is a date",
            error="the index must hold dates",
        )
    ]
    if sorted_:
        # row by row (each date not before the one above it), so the message can show the rows out of order
        checks.append(
            pa.Check(
                lambda idx: ~(pd.to_datetime(idx, errors="coerce").diff() < pd.Timedelta(0)),
                name="dates ascending",
                error="dates must be in ascending order",
            )
        )
    return pa.Index(name="date", unique=unique, checks=checks)


def raw_schema():
    """Raw prices: the columns are there, numeric; anything else is cleaning's job."""
    pa = _pa()
    columns = {c: pa.Column(float, nullable=True, required=True) for c in [*PRICES, "volume"]}
    columns["adj_close"] = pa.Column(float, nullable=True, required=False)
    return pa.DataFrameSchema(
        columns, index=_date_index(pa, unique=False, sorted_=False), name="raw prices", strict=True
    )


def cleaned_schema():
    """Cleaned prices: one row a trading day, ascending, positive consistent OHLC, volume >= 0."""
    pa = _pa()
    columns = {c: pa.Column(float, pa.Check.gt(0), nullable=False) for c in PRICES}
    columns["volume"] = pa.Column(float, pa.Check.ge(0), nullable=False)
    checks = [
        pa.Check(lambda df: df["high"] >= df[["open", "close"]].max(axis=1), name="high >= max(open, close)"),
        pa.Check(lambda df: df["low"] <= df[["open", "close"]].min(axis=1), name="low <= min(open, close)"),
    ]
    return pa.DataFrameSchema(
        columns, index=_date_index(pa, unique=True, sorted_=True), checks=checks, name="cleaned prices", strict=True
    )


def features_schema(features: Sequence[str], target: str = "target_next_return"):
    """Features: every listed feature finite; the target present and missing on the last row only."""
    import numpy as np

    pa = _pa()
    columns = {f: pa.Column(float, pa.Check(lambda s: np.isfinite(s), name="finite"), nullable=False) for f in features}
    columns[target] = pa.Column(
        float,
        nullable=True,
        checks=[
            # ignore_na=False: pandera drops the NaNs of a nullable column before its checks by default
            pa.Check(
                lambda s: s.notna() | (np.arange(len(s)) == len(s) - 1),
                ignore_na=False,
                name="missing on the last row only",
                error="the target may be missing on the last row only",
            )
        ],
    )
    return pa.DataFrameSchema(columns, index=_date_index(pa, unique=True, sorted_=True), name="features", strict=True)


def validate(frame: pd.DataFrame, schema, *, step: str, action: str) -> pd.DataFrame:
    """Validate ``frame``; raise SchemaViolation naming the step, column, rule and first offending rows."""
    pa = _pa()
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        # rules on one column first: they name the column at fault (a negative close also breaks low <= close)
        cases = cases.sort_values("schema_context", key=lambda s: s.eq("DataFrameSchema"), kind="stable")
        first = cases.iloc[0]
        rule = str(first.get("check"))
        if rule in ("column_in_schema", "column_in_dataframe"):  # a column too many, or one missing
            column = str(first["failure_case"])
            table = (
                frame[[column]].head(MAX_ROWS_SHOWN).to_string()
                if column in frame.columns
                else f"columns given: {', '.join(map(str, frame.columns))}"
            )
            count = len(cases)
        elif first.get("schema_context") == "DataFrameSchema":  # a rule across columns: show whole rows
            column = rule.split()[0]
            bad = cases.loc[cases["check"] == first["check"], "index"].drop_duplicates()
            table = frame.loc[frame.index.isin(bad)].head(MAX_ROWS_SHOWN).to_string()
            count = len(bad)
        else:
            column = first.get("column") or "(frame)"
            shown = cases[["column", "check", "index", "failure_case"]].head(MAX_ROWS_SHOWN)
            table = shown.to_string(index=False)
            count = len(cases)
        more = f" ({count} failures in all)" if count > MAX_ROWS_SHOWN else ""
        raise SchemaViolation(
            f"{step}: the {schema.name} it {action} break the schema: column {column}, rule "
            f"'{rule}'{more}; first offending rows:\n{table}"
        ) from None
