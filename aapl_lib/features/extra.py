"""Analysts' own features, declared in params: ``extra_features: ["module:function", ...]``.

Each function takes the cleaned prices (a DataFrame indexed by date with ``open, high, low, close, volume``)
and returns a DataFrame of new numeric feature columns on the same index. A function that needs other data
declares it in ``feature_inputs`` and takes an ``inputs`` keyword (:mod:`aapl_lib.features.inputs`).
Modules are looked up on the project root and ``PYTHONPATH`` (``sys.path``). A function gets a copy of the
prices, so it cannot change them for the built-in features.

The leakage guard recomputes these features on truncated prices like the built-in ones, so a function that
peeks at later rows (a centred window, ``shift(-1)``, a whole-sample normalisation) stops the run at feature
engineering. Their module's source is part of the feature task's fingerprint: editing it re-runs the task.

A function sees only its frame: its module's import and each call run inside the fence of
:mod:`aapl_lib.features.sandbox` (no files read or written, no network, no processes or threads), since data
fetched behind the pipeline's back is data the leakage guard cannot cut at a day. A refused action stops the
task with one line naming the function, what it tried and how to fix it, even when the function caught the
error and fell back on something else.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aapl_lib.errors import PipelineError
from aapl_lib.features import sandbox
from aapl_lib.io.project import project_root
from aapl_lib.pipeline.feature_specs import check_spec

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

if TYPE_CHECKING:  # pandas is imported where features are computed, not when a fingerprint finds the files
    import pandas as pd


class FeatureFunctionError(PipelineError):
    """An analyst's feature function failed or returned something that is not a feature frame."""


def _ensure_importable() -> None:
    # A notebook's kernel runs in notebooks/, so the project root is not on sys.path by itself.
    root = project_root()
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))


def _refuse_outputs_module(spec: str, module_name: str) -> None:
    """A module inside the outputs folder is data that may be hostile (docs/trust.md), and the default outputs
    folder lies on the project root, where modules are looked up: refuse it before anything imports it."""
    from aapl_lib.io.project import module_source, outputs_root

    found = module_source(module_name)
    outputs = outputs_root().resolve()
    if found is not None and Path(found).resolve().is_relative_to(outputs):
        raise FeatureFunctionError(
            f"extra feature {spec}: module {module_name} is inside the outputs folder ({found}); outputs/ is data, "
            "never code: keep feature modules next to runner.py or on PYTHONPATH"
        )


def load(spec: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Import ``module`` and return ``function``; FeatureFunctionError naming the spec when either fails."""
    module_name, func_name = check_spec(spec).split(":")
    _ensure_importable()
    _refuse_outputs_module(spec, module_name)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the analyst's to fix
        raise FeatureFunctionError(
            f"extra feature {spec}: importing {module_name} failed with {type(exc).__name__}: {exc}"
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise FeatureFunctionError(
            f"extra feature {spec}: module {module_name} ({module.__file__}) has no function {func_name}"
        )
    return func


def compute(
    cleaned: pd.DataFrame,
    specs: Sequence[str],
    taken: Iterable[str] = (),
    inputs: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Call every declared function on a copy of the prices and check what it returns.

    Returns the new columns (float, ±inf as NaN) on ``cleaned``'s index, in declaration order. ``taken`` are
    names already used (the built-in features and the target): a function may not reuse them. A function with
    an ``inputs`` parameter also gets ``inputs`` (the declared ``feature_inputs``, read by
    :func:`aapl_lib.features.inputs.read_inputs`) aligned as of ``cleaned``'s days, so cut with the prices."""
    import pandas as pd

    from aapl_lib.features.inputs import as_of

    taken = set(taken)
    prices = cleaned[list(PRICE_COLUMNS)]
    aligned = {name: as_of(frame, cleaned.index) for name, frame in (inputs or {}).items()}
    parts = []
    _ensure_importable()
    for spec in specs:
        out = _confined_call(spec, prices, aligned)
        parts.append(_checked(spec, out, cleaned.index, taken))
        taken.update(parts[-1].columns)
    if not parts:
        return pd.DataFrame(index=cleaned.index)
    frame = pd.concat(parts, axis=1)
    sources = {name: spec for spec, part in zip(specs, parts, strict=True) for name in part.columns}
    frame.attrs["feature_sources"] = sources
    return frame


def _confined_call(spec: str, prices: pd.DataFrame, inputs: Mapping[str, pd.DataFrame]) -> object:
    """Import ``spec``'s module and call its function on a copy of ``prices`` (and of ``inputs`` when it takes
    them), both inside the sandbox.

    A refused action fails the feature even when the function caught the error (the refusal comes first, as
    it is the cause of whatever went wrong next); otherwise an exception is reported with the spec's name."""
    failure: Exception | None = None
    out: object = None
    with sandbox.confined() as refused:
        try:
            func = load(spec)
            if takes_inputs(func):
                out = func(prices.copy(), inputs={name: frame.copy() for name, frame in inputs.items()})
            else:
                out = func(prices.copy())
        except Exception as exc:  # noqa: BLE001 - the analyst's code: report it with its name
            failure = exc
    if refused:
        raise FeatureFunctionError(refusal_message(spec, refused)) from failure
    if isinstance(failure, FeatureFunctionError):
        raise failure
    if failure is not None:
        raise FeatureFunctionError(f"extra feature {spec} raised {type(failure).__name__}: {failure}") from failure
    return out


def takes_inputs(func: Callable[..., object]) -> bool:
    """Whether ``func`` accepts an ``inputs`` keyword (the declared feature inputs)."""
    import inspect

    try:
        parameter = inspect.signature(func).parameters.get("inputs")
    except (TypeError, ValueError):  # a builtin or C function without a signature: prices only
        return False
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)


def refusal_message(spec: str, refused: Sequence[str]) -> str:
    """One line: the function, what it tried (the first refusal, and how many more), and the fix."""
    more = f" (and {len(refused) - 1} more refused action(s))" if len(refused) > 1 else ""
    return (
        f"extra feature {spec} {refused[0]}{more}: refused, a feature function sees only the prices it is "
        "given; compute the feature from them, or declare the data it needs as an input the pipeline "
        "supplies (feature_inputs), which the leakage guard cuts at the same day as the prices"
    )


def _checked(spec: str, out: object, index: pd.DatetimeIndex, taken: set[str]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if not isinstance(out, pd.DataFrame):
        raise FeatureFunctionError(
            f"extra feature {spec} returned {type(out).__name__}, not a DataFrame: return "
            "a DataFrame of feature columns on the prices' date index"
        )
    if out.shape[1] == 0:
        raise FeatureFunctionError(f"extra feature {spec} returned no columns")
    if not out.index.equals(index):
        extra = out.index.difference(index)
        missing = index.difference(out.index)
        detail = (
            (f"{len(missing)} of the prices' dates missing" if len(missing) else "")
            + (", " if len(missing) and len(extra) else "")
            + (f"{len(extra)} dates not in the prices" if len(extra) else "")
        )
        raise FeatureFunctionError(
            f"extra feature {spec} returned a frame whose index is not the prices' date "
            f"index ({detail or 'same dates, other order'}): return features on "
            "prices.index, one row per price row"
        )
    names = [str(c) for c in out.columns]
    if len(set(names)) != len(names):
        raise FeatureFunctionError(f"extra feature {spec} returned repeated column names: {names}")
    clash = [n for n in names if n in taken]
    if clash:
        raise FeatureFunctionError(
            f"extra feature {spec} returned column {clash[0]!r}, a name already used by a "
            "built-in feature, the target or another extra feature: rename it"
        )
    for column, name in zip(out.columns, names, strict=True):
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])):
            raise FeatureFunctionError(
                f"extra feature {spec} returned column {name!r} of type "
                f"{out[column].dtype}, not numeric: features must be numbers"
            )
    frame = out.astype(float)
    frame.columns = names
    return frame.replace([np.inf, -np.inf], np.nan)
