"""Running the notebooks: the loop (``orchestration``) and its parts — what to do with each task
(``planning``), the runner's own steps between notebooks (``steps/``: the tries, the approval gate, the forecast
ledger), one task executed (``task``) in its kernel (``kernels/``: its
manager, launcher, fork server and warm pool, the papermill engine), pages rendered in the
background (``renders``), signals (``interrupts``), how a run ends (``finish``), the run's options (``options``),
log lines (``run_logs``), the browser rebuilt (``browser_refresh``) —, fingerprints and their import
closure (``fingerprints``, ``import_closure``), ``hooks``, many tickers at once (``batch/``: the loop, one
ticker in a worker, the executors that run them) and re-executing a recorded run (``reproduce``). What each
command of ``runner.py`` does is in :mod:`aapl_lib.cli`."""
