"""aapl_lib: all the logic behind the six pipeline notebooks, one module a concern.

What runs (the pipeline as data):
  ``tasks`` the DAG (one frozen spec per notebook) · ``config`` parameters, declared once · ``exit_codes``
Files and folders (I/O at the edges):
  ``iorw`` atomic writes, sha256, JSON digest · ``locks`` run and cache locks · ``logs`` the log format ·
  ``layout`` the paths of ``outputs/`` · ``manifest`` a run's record · ``reuse_cache`` · ``retention``
Data (steps 1-2):
  ``sources`` sample, yfinance, csv · ``ingestion`` · ``trading_calendar`` · ``cleaning`` · ``schemas``
Features (step 3):
  ``features`` · ``extra_features`` analysts' own · ``leakage`` the guard
Models (steps 4-5):
  ``candidates`` · ``modeling`` split, fit, save · ``walkforward`` · ``metrics`` · ``significance`` ·
  ``evaluation``
Promotion and reporting (gate, step 6):
  ``gate`` · ``registry`` the champion per ticker · ``reporting`` analysis.md and summary.pdf · ``formatting``
Running it:
  ``step`` what a notebook calls · ``orchestration`` the runner's loop (papermill) · ``fingerprints`` ·
  ``kernel_launcher`` · ``hooks`` · ``batch`` many tickers · ``cli`` runner.py
Views:
  ``browser`` the run browser (templates in ``templates/``) · ``render`` notebooks to HTML · ``compare`` ·
  ``dag`` the DAG picture
"""

__version__ = "0.1.0"
