"""Test-session setup shared by tests/ and the nbval run of notebooks/.

Notebooks run under nbval with their defaults write to ``$AAPL_OUTPUTS_DIR/interactive``; point that at a
throw-away folder so a test run never touches the project's own outputs/.
"""

import atexit
import os
import shutil
import tempfile

_OUTPUTS = tempfile.mkdtemp(prefix="aapl-test-outputs-")
os.environ["AAPL_OUTPUTS_DIR"] = _OUTPUTS
atexit.register(shutil.rmtree, _OUTPUTS, ignore_errors=True)
os.environ.setdefault("MPLBACKEND", "Agg")

