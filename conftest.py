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


def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (``-n``), keep each test file on one worker, in order: its tests share module fixtures
    and some build on the one before (approve, then resume); the six notebooks form one group, run 01..06, since
    each reads what the one before wrote. Files run in parallel with each other."""
    import pytest

    for item in items:
        path = str(item.fspath)
        group = "notebooks" if path.endswith(".ipynb") else os.path.basename(path)
        item.add_marker(pytest.mark.xdist_group(name=group))
