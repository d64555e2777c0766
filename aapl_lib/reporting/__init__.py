"""Step 6: the run's analysis.md and summary.pdf."""
