"""aapl_lib: all the logic behind the six pipeline notebooks, one sub-package a concern.

Layers, highest first; a layer imports only from those below it (``tests/test_architecture.py``):

  ``cli/``, ``step`` what ``runner.py`` calls (the parser; a module per command group with its handlers)
                     and what the notebooks call
  ``runner/``        the runner: the loop, one task's execution, kernels, fingerprints, batch, hooks
  ``views/``         what a reviewer reads: run browser, compare, the DAG picture, notebooks as HTML
  ``reporting/``     step 6: analysis.md and summary.pdf
  ``promotion/``     the gate and the registry of champions
  ``modeling/``      steps 4-5: candidates, training, walk-forward, metrics, significance, evaluation
  ``features/``      step 3: the builder, analysts' own features, the leakage guard
  ``data/``          steps 1-2: sources, ingestion, calendar, cleaning, quality report, schemas
  ``store/``         the only code that knows the layout of ``outputs/``
  ``pipeline/``      what runs, as data: task specs, parameters, states, exit codes
  ``io/``            atomic files, hashing, locks, logs, where the project is
  ``errors``, ``formatting``  the project's error classes; numbers as text
"""

__version__ = "0.1.0"
