"""Test-session setup shared by tests/ and the nbval run of notebooks/.

Notebooks run under nbval with their defaults write to ``$AAPL_OUTPUTS_DIR/interactive``; point that at a
throw-away folder so a test run never touches the project's own outputs/.
"""

import os
import tempfile

os.environ["AAPL_OUTPUTS_DIR"] = tempfile.mkdtemp(prefix="aapl-test-outputs-")
os.environ.setdefault("MPLBACKEND", "Agg")
