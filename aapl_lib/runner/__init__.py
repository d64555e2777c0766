"""Running the notebooks: the loop (``orchestration``), fingerprints and their import closure, kernels
(``kernel_launcher``), ``hooks``, many tickers at once (``batch``, the loop; ``workers``, the executors that
run one ticker each) and what each command of ``runner.py`` does (``commands``, ``batch_commands``)."""
