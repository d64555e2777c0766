"""An ``extra_features`` entry as a parameter: its form (``module:function``) and where its module's file is,
checked when parameters are validated and hashed into the feature task's fingerprint. Loading and running
the function is :mod:`aapl_lib.features.extra`'s job. Also ``feature_inputs``, the files those functions are
given: names usable as keys and paths of existing files (reading them is :mod:`aapl_lib.features.inputs`')."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from aapl_lib.errors import ParameterError
from aapl_lib.io.project import module_source

# "package.module:function" — dotted module path, one function name; never a path or an expression.
SPEC_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
INPUT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")  # a feature input's name: a key of ``inputs``


def check_spec(spec: str) -> str:
    """``spec`` stripped, when it has the form ``module:function``; a ParameterError otherwise."""
    text = spec.strip() if isinstance(spec, str) else spec
    if not isinstance(text, str) or not SPEC_RE.match(text):
        raise ParameterError(
            f"extra_features entry {spec!r} is not of the form 'module:function' (e.g. "
            "'my_features:momentum', a module on the project root or PYTHONPATH)"
        )
    return text


def module_file(spec: str) -> Path:
    """The source file of ``spec``'s module, found without importing (executing) it.

    Raises ParameterError when no such module is on the project root or ``PYTHONPATH``."""
    module = check_spec(spec).split(":")[0]
    found = module_source(module)
    if found is None:
        raise ParameterError(
            f"extra_features: module {module!r} (from {spec!r}) is not on the project root or "
            "PYTHONPATH: put the file next to runner.py or add its folder to PYTHONPATH"
        )
    return found


def source_digests(specs: Iterable[str]) -> dict[str, str]:
    """sha256 of each declared function's module source (for the feature task's fingerprint)."""
    return {spec: hashlib.sha256(module_file(spec).read_bytes()).hexdigest() for spec in specs}


def check_input_names(name: str, value: object) -> dict[str, str]:
    """``feature_inputs`` (parameter ``name``) as a mapping of usable names to non-empty path strings."""
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise ParameterError(f"parameter {name} must be a mapping of names to CSV file paths, got {value!r}")
    for key in value:
        if not isinstance(key, str) or not INPUT_NAME_RE.match(key):
            raise ParameterError(
                f"parameter {name}: {key!r} is not a usable name: use letters, digits and _ (e.g. market)"
            )
    return dict(value)


def input_files(inputs: dict[str, str], base_dir: Path | None = None) -> dict[str, str]:
    """Each input's path made absolute (relative ones from ``base_dir``, the current directory by default);
    a ParameterError naming the input when its file does not exist."""
    out = {}
    for key, value in inputs.items():
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if not path.is_file():
            raise ParameterError(
                f"feature_inputs {key}: {value} does not exist or is not a file: give the path of a CSV file"
            )
        out[key] = str(path.resolve())
    return out
