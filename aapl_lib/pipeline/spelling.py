"""A misspelt name answered with the nearest real ones (difflib), the same way for commands, tasks and
parameters: ``did you mean 'list'?`` rather than every name there is. Standard library only: the command line
uses it before anything else is imported."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's own default: "tickr" finds "ticker", "lst" finds "list", "foo" finds nothing
CUTOFF = 0.6
MOST = 3


def nearest(word: str, names: Iterable[str]) -> list[str]:
    """Up to three of ``names`` closest to ``word``, closest first; empty when none is close."""
    return difflib.get_close_matches(word, list(names), n=MOST, cutoff=CUTOFF)


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``did you mean 'a'?`` / ``did you mean 'a', 'b' or 'c'?`` for the names nearest ``word``; empty when
    none is close."""
    close = [repr(name) for name in nearest(word, names)]
    if not close:
        return ""
    listed = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return f"did you mean {listed}?"
