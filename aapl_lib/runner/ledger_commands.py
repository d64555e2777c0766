"""``runner.py track TICKER``: a ticker's live track record, computed from its forecast ledger as it is now."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aapl_lib.errors import ParameterError
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.store import layout


def track_command(args: argparse.Namespace, outputs: Path) -> int:
    """Print the track record of ``args.ticker`` (``--json``: the whole record, every scored day included)."""
    from aapl_lib.reporting.content import track_record_summary
    from aapl_lib.tracking.ledger import read_ledger
    from aapl_lib.tracking.record import track_record

    ticker = args.ticker.upper()
    path = layout.ledger_path(outputs, ticker)
    if not path.is_file():
        known = layout.ledger_tickers(outputs)
        raise ParameterError(
            f"no forecast ledger for {ticker} in {layout.ledger_dir(outputs)}: "
            + (f"tickers with one: {', '.join(known)}" if known else "no run has recorded a forecast yet")
            + " (a run records its forecast once the approval gate has decided)"
        )
    ledger = read_ledger(path)
    record = track_record(ledger, ticker)
    if args.json:
        print(json.dumps({**record, "ledger": str(path)}, indent=2))
        return Exit.OK
    sentences, table = track_record_summary(record)
    print(f"{ticker}: live track record ({path})")
    for sentence in sentences:
        print(sentence)
    if table:
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            print(
                "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
    print(f"drift: {record['drift']['why']}")
    page = layout.track_page(outputs, ticker)
    if page.is_file():
        print(f"page: {page}")
    return Exit.OK
