"""aapl_lib: all the logic behind the six pipeline notebooks.

One module a concern: ``config`` (parameters), ``tasks`` (the DAG), ``sources`` and ``ingestion`` (step 1),
``cleaning`` (step 2), ``features`` (step 3), ``modeling`` (step 4), ``evaluation`` (step 5), ``reporting``
(step 6), ``iorw`` (atomic artifact I/O), ``step`` (what a notebook needs to run a step), ``manifest``,
``logs``, ``orchestration`` (papermill) and ``cli`` (runner.py).
"""

__version__ = "0.1.0"
