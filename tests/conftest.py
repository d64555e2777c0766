"""Fixtures shared by the tests (helpers live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT, sample_frame, write_classic_yahoo, write_yfinance_multiheader


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture()
def classic_csv(tmp_path: Path) -> Path:
    return write_classic_yahoo(tmp_path / "AAPL.csv", sample_frame())


@pytest.fixture()
def multiheader_csv(tmp_path: Path) -> Path:
    return write_yfinance_multiheader(tmp_path / "aapl_yf.csv", sample_frame())
