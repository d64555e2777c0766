"""Step 6: the run's analysis.md and summary.pdf: what both present (``content``), ``markdown`` (analysis.md
and its escaping), ``pdf`` (summary.pdf) and ``write`` (both files, atomically)."""
