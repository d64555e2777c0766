"""aapl_lib: all the logic behind the six pipeline notebooks, one sub-package a concern.

Layers, highest first; a layer imports only from those below it, never from a sibling on its own line (the
import-linter contract in ``pyproject.toml``, run by ``make lint``; ``tests/unit/test_architecture.py`` keeps this map
equal to it):

  ``cli/``, ``step``             what ``runner.py`` (a module per command group) and the notebooks call
  ``runner/``                    the run loop and its parts, kernels, batches, fingerprints, hooks
  ``views/`` | ``reporting/``    what a reviewer reads: the run browser, compare, the DAG | step 6: analysis.md, PDF
  ``tracking/`` | ``promotion/`` the forecast ledger, live scores, health | the gate, the registry, the tries
  ``modeling/``                  steps 4-5: candidates, training, walk-forward, metrics, significance, evaluation
  ``features/`` | ``data/`` | ``store/`` | ``narrative``  step 3 and the leakage guard | steps 1-2 | the
                                 layout of ``outputs/`` | a run's findings as sentences (report, pages, ``track``)
  ``pipeline/``                  what runs, as data: task specs, parameters, states, exit codes, trust
  ``io/``                        atomic files, hashing, locks, logs, where the project is
  ``errors``, ``formatting``     the project's error classes; numbers as text
"""

__version__ = "0.1.0"
