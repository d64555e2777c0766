"""Test-session setup shared by tests/ and the nbval run of notebooks/.

Notebooks run under nbval with their defaults write to ``$AAPL_OUTPUTS_DIR/interactive``; point that at a
throw-away folder so a test run never touches the project's own outputs/.
"""

import atexit
import compileall
import os
import random
import shutil
import tempfile

import pytest

_OUTPUTS = tempfile.mkdtemp(prefix="aapl-test-outputs-")
os.environ["AAPL_OUTPUTS_DIR"] = _OUTPUTS
atexit.register(shutil.rmtree, _OUTPUTS, ignore_errors=True)
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config) -> None:
    """Compile the package once, before any worker starts: where PYTHONDONTWRITEBYTECODE is set (as on the CI
    machines), every runner and kernel process of the suite would otherwise compile it from source again. The
    project copies of tests/helpers.py copy the compiled files along (their sources keep their mtimes)."""
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(os.path.join(os.path.dirname(__file__), "aapl_lib"), quiet=1)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: only called when xdist runs the suite
def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist (``-n auto``, the default in pyproject.toml), keep each test file on one worker, in
    file order: its tests share module fixtures and some build on the one before (approve, then resume). The six
    notebooks form one unit, run 01..06, since each reads what the one before wrote. Files run in parallel with
    each other. (xdist's own ``--dist loadgroup`` marks do not take effect under pytest 9.)"""
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "notebooks" if path.endswith(".ipynb") else path

    return FileScheduling(config, log)


# The files that run the pipeline most (about a minute or more of work each), handed out first so that the
# workers finish together; the rest follow in their usual order, each file's tests in their own order.
HEAVIEST_FIRST = [
    "e2e/test_recovery.py",
    "e2e/test_checkpoints.py",
    "e2e/test_batch.py",
    "e2e/test_runner_e2e.py",
    "e2e/test_hostile_inputs.py",
    "e2e/test_models_gate.py",
    "e2e/test_cli.py",
    "e2e/test_audit.py",
    "e2e/test_health.py",
    "e2e/test_tracking.py",
    "e2e/test_refit.py",
    "e2e/test_honesty.py",
]


def _shuffle_seed() -> int | None:
    seed = os.environ.get("AAPL_TESTS_SHUFFLE", "")
    return int(seed) if seed.isdigit() else None


def pytest_report_header(config):
    seed = _shuffle_seed()
    if seed is not None:
        return f"test order shuffled with seed {seed} (AAPL_TESTS_SHUFFLE={seed} repeats it)"
    return None


def pytest_collection_modifyitems(config, items):
    """Heaviest files first. With ``AAPL_TESTS_SHUFFLE=SEED`` the files and the tests within each file run in an
    order drawn from SEED instead (every test must pass alone and in any order); the six notebooks keep 01..06."""
    seed = _shuffle_seed()
    if seed is not None:
        rng = random.Random(seed)
        files: dict[str, list] = {}
        for item in items:
            files.setdefault(str(item.fspath), []).append(item)
        order = list(files)
        rng.shuffle(order)
        for name in order:
            if not name.endswith(".ipynb"):
                rng.shuffle(files[name])
        items[:] = [item for name in order for item in files[name]]
        notebooks = sorted((i for i in items if str(i.fspath).endswith(".ipynb")), key=lambda i: str(i.fspath))
        # the notebooks read what the one before wrote: they stay together, in order, where the first one landed
        if notebooks:
            first = next(n for n, item in enumerate(items) if str(item.fspath).endswith(".ipynb"))
            rest = [i for i in items if not str(i.fspath).endswith(".ipynb")]
            items[:] = rest[:first] + notebooks + rest[first:]
        return

    def weight(item) -> int:
        path = str(item.fspath).replace(os.sep, "/")
        heavy = [i for i, name in enumerate(HEAVIEST_FIRST) if path.endswith("/tests/" + name)]
        return heavy[0] if heavy else len(HEAVIEST_FIRST)

    items.sort(key=weight)  # stable: the order within a file (and of the notebooks) is kept
