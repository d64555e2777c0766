"""The runner's own steps between the notebooks, each reading and writing declared artifacts of the run folder:
``tries`` (before model evaluation: the evaluation about to run is recorded as a try on its held-out window),
``approval_gate`` (after evaluation: the policy, or a person, decides on the challenger; ``reports/decision.json``)
and ``forecast_ledger`` (before reporting: tonight's published forecast appended, closed days scored, the track
record drawn)."""
