"""Where trust comes from (docs/trust.md): the operator's params file and command line at the time of a run,
a resume or a reproduction, and the operator's environment. Everything in the outputs folder (manifests, the
reuse cache, the registry, the ledger) is data that may be hostile: whoever can write there must not decide
what code runs.

So the parameters that name code — the ``on_success``/``on_failure`` shell hooks and the ``extra_features``
functions a kernel imports — are never taken from a manifest. ``resume`` and ``reproduce`` take them from
their own ``-f FILE`` / ``-p`` (the default params file when none is given); a recorded run whose
``extra_features`` differ from the operator's is refused, naming what it needs. The rest of a recorded run's
parameters are data: re-checked against their declarations before they are used again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aapl_lib.errors import CorruptStateError, ParameterError
from aapl_lib.pipeline.parameters import PARAMETERS, RETIRED, default

HOOKS = ("on_success", "on_failure")
CODE_PARAMS = (*HOOKS, "extra_features")  # parameters that name code to run
NO_CODE: dict[str, Any] = {"on_success": "", "on_failure": "", "extra_features": [], "source": "no params file"}


def operator_code(params_file: Path, overrides: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The code-naming parameters the operator gives now: ``params_file``'s, overridden by ``-p`` (which may
    name only these: a recorded run's other parameters are fixed). Carries ``source``: where they came from."""
    from aapl_lib.pipeline.config import _check_value, load_params_file, parse_override

    overrides = [tuple(pair) for pair in overrides]
    others = sorted({name for name, _ in overrides if name not in CODE_PARAMS})
    if others:
        raise ParameterError(
            f"-p {others[0]}: a recorded run's parameters are fixed; -p here takes only {', '.join(CODE_PARAMS)} "
            "(start a new run to change the others)"
        )
    recorded = load_params_file(params_file)
    code = {name: _check_value(name, recorded.get(name, default(name))) for name in CODE_PARAMS}
    for name, text in overrides:
        code[name] = _check_value(name, parse_override(name, text))
    given = [f"-p {name}" for name, _ in overrides]
    return {**code, "source": ", ".join([str(params_file), *given])}


def recorded_params(params: Any, what: str) -> dict[str, Any]:
    """A recorded run's parameters, each known and of its declared type (retired ones dropped); a
    CorruptStateError naming ``what`` (the manifest) otherwise."""
    from aapl_lib.pipeline.config import _check_value

    if not isinstance(params, dict):
        raise CorruptStateError(f"{what} holds no parameters mapping: the run cannot be continued from it")
    out = {}
    for name, value in params.items():
        if name in RETIRED:
            continue
        if name not in PARAMETERS:
            raise CorruptStateError(f"{what} records an unknown parameter {name!r}: it was edited; not continued")
        try:
            out[name] = _check_value(name, value)
        except ParameterError as exc:
            raise CorruptStateError(f"{what} records a bad value: {exc}; it was edited; not continued") from None
    return out


def adopt(recorded: Any, operator: dict[str, Any], what: str, command: str) -> dict[str, Any]:
    """``recorded`` (a manifest's params) re-checked, with the hooks the operator gives now in place of the
    recorded ones. When the recorded ``extra_features`` are not the operator's, a ParameterError: they name
    code to import, and a manifest cannot vouch for code; ``command`` is how to give them."""
    params = recorded_params(recorded, what)
    mine, theirs = list(operator.get("extra_features") or []), list(params.get("extra_features") or [])
    if theirs != mine:
        raise ParameterError(
            f"{what} names extra_features {theirs} (code to import), and {operator.get('source', 'your params')} "
            f"names {mine}: code is taken only from your params file or command line, never from a manifest. "
            f"If you trust those functions, give them: {command} -f YOUR_PARAMS.yaml (the file that lists them) "
            f"or -p extra_features '{','.join(theirs)}'"
        )
    return {**params, **{name: operator.get(name, "") for name in HOOKS}}


def describe_hooks(operator: dict[str, Any]) -> str:
    """One line saying which hooks will run and where they came from (resume prints it before it starts)."""
    parts = [f"{name}: {operator.get(name)!r}" if operator.get(name) else f"{name}: none" for name in HOOKS]
    return f"hooks: {'; '.join(parts)} (from {operator.get('source', 'nowhere')}; never from the run's manifest)"
