"""Steps 4-5: the candidates and baselines (``candidates``), split, fit and save (``training``),
``walkforward`` validation, ``metrics``, ``significance`` tests, the held-out ``evaluation`` and its figures
(``evaluation_plots``)."""
