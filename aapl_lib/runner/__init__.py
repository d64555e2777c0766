"""Running the notebooks: the loop (``orchestration``), fingerprints and their import closure, kernels
(``kernel_launcher``), ``hooks`` and many tickers at once (``batch``)."""
