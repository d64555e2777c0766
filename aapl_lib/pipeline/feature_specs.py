"""An ``extra_features`` entry as a parameter: its form (``module:function``) and where its module's file is,
checked when parameters are validated and hashed into the feature task's fingerprint. Loading and running
the function is :mod:`aapl_lib.features.extra`'s job."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from aapl_lib.errors import ParameterError
from aapl_lib.io.project import module_source

# "package.module:function" — dotted module path, one function name; never a path or an expression.
SPEC_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


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
