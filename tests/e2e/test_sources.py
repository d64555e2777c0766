"""Step 1's data sources: the CSV layouts people really have, the offline sample, and yfinance (never the
network: ``yfinance.Ticker`` is replaced by a fake whose ``history`` returns a frame shaped like yfinance 1.x's
and raises yfinance's own exception types).

Every CSV fixture is written into ``tmp_path`` from ~40 rows of the offline sample, in the exact layouts of
the real-world AAPL files the team collected (the tests never read them: fixtures are written here)."""

from __future__ import annotations

import json

from helpers import WINDOW, sample_frame, write_nasdaq

START, END = "2012-01-03", "2012-02-29"


# --------------------------------------------------------------------------------------------- fixtures


# Each layout: (header lines, canonical columns in file order, writer options, expected layout facts).


def test_nasdaq_export_runs_through_the_cli(project, tmp_path):
    frame = sample_frame("2004-06-01", "2006-12-31")
    path = write_nasdaq(tmp_path / "AAPL.csv", frame)

    proc = project.run(
        *WINDOW, "-p", "source", "csv", "-p", "csv_path", str(path), "--only", "data_ingestion", "--force"
    )

    assert proc.returncode == 0, proc.stderr
    provenance = json.loads((project.latest() / "data" / "provenance.json").read_text())
    assert provenance["source"] == "csv" and provenance["rows"] == len(frame)
    assert provenance["window"] == {"first": f"{frame.index[0]:%Y-%m-%d}", "last": f"{frame.index[-1]:%Y-%m-%d}"}
    assert provenance["details"]["layout"]["layout"] == "Nasdaq.com historical data"
    assert provenance["has_adj_close"] is False


# --------------------------------------------------------------------------------------------- load_csv


# --------------------------------------------------------------------------------------------- sample


# --------------------------------------------------------------------------------------------- yfinance


# --------------------------------------------------------------------------------------------- ingestion
