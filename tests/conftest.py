"""Fixtures shared by the tests (helpers live in tests/helpers.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import needs
import pytest

from helpers import (
    ANALYST_FEATURES_SOURCE,
    ANALYST_MODULE,
    ROOT,
    WINDOW,
    Project,
    sample_frame,
    stop_warm_processes_under,
    write_classic_yahoo,
    write_yfinance_multiheader,
)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture()
def classic_csv(tmp_path: Path) -> Path:
    return write_classic_yahoo(tmp_path / "AAPL.csv", sample_frame())


@pytest.fixture()
def multiheader_csv(tmp_path: Path) -> Path:
    return write_yfinance_multiheader(tmp_path / "aapl_yf.csv", sample_frame())


@pytest.fixture(scope="session")
def seeded_project(tmp_path_factory) -> Project:
    """One finished run of ``WINDOW`` in a copy of the project, made once per session (per xdist worker).
    Modules take a :meth:`Project.clone` of it, so their reruns reuse it instead of each running the pipeline."""
    proj = Project(tmp_path_factory.mktemp("seeded"))
    proc = proj.run(*WINDOW)
    assert proc.returncode == 0, proc.stderr
    proj.seed_run, proj.seed_proc = proj.latest().name, proc
    return proj


@pytest.fixture(scope="module")
def project(seeded_project, tmp_path_factory) -> Project:
    """This module's own copy of the seeded project (one finished run of ``WINDOW``)."""
    copy = seeded_project.clone(tmp_path_factory.mktemp("project"))
    copy.seed_run = seeded_project.seed_run
    return copy


@pytest.fixture(scope="session", autouse=True)
def _warm_processes_per_worker(tmp_path_factory):
    """Each xdist worker's runs keep warm processes of their own: the runner finds a kept one by a socket under
    $TMPDIR, and runs made with ``run_runner`` (no project copy on PYTHONPATH) would otherwise share one across
    workers. A module's teardown, which ends the warm processes its runs kept, could then end the one another
    worker's run was forking from ("the kernel died" in notebook 05)."""
    folder = tmp_path_factory.getbasetemp() / "tmp"
    folder.mkdir(exist_ok=True)
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    yield
    if previous is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = previous


@pytest.fixture(scope="module", autouse=True)
def _stop_kept_warm_processes(request, tmp_path_factory):
    """Runs keep their warm process for the next run (``warm_kernels_keep_seconds``): the runs of one test
    module share it, and it ends with the module instead of idling on (the seeded project's ends with the
    session)."""
    yield
    base = tmp_path_factory.getbasetemp()
    for found in base.iterdir():
        if not found.name.startswith("seeded"):
            stop_warm_processes_under(found)


@pytest.fixture(scope="session", autouse=True)
def _stop_every_kept_warm_process(tmp_path_factory):
    yield
    stop_warm_processes_under(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def feature_dir(tmp_path_factory) -> Path:
    """A folder on sys.path holding the analyst's feature module (helpers.ANALYST_FEATURES_SOURCE)."""
    folder = tmp_path_factory.mktemp("analyst")
    (folder / f"{ANALYST_MODULE}.py").write_text(ANALYST_FEATURES_SOURCE)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop(ANALYST_MODULE, None)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "needs(tool): the test proves its promise only where the tool works (needs.py)")


def pytest_runtest_setup(item) -> None:
    for mark in item.iter_markers("needs"):
        why = needs.missing(mark.args[0])
        if why:
            pytest.skip(why)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``AAPL_TESTS_STRICT_SKIPS=1`` a skip that no missing tool explains fails: it would hide a promise."""
    report = yield
    if report.skipped and needs.strict_skips() and needs.UNPROVEN not in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"a skip under AAPL_TESTS_STRICT_SKIPS=1 that no missing tool explains: {report.longrepr}"
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    """Say loudly which promises this machine could not prove, and why."""
    unproven = [r for r in terminalreporter.stats.get("skipped", []) if needs.UNPROVEN in str(r.longrepr)]
    if unproven:
        terminalreporter.section(f"{len(unproven)} promise test(s) NOT run on this machine", red=True, bold=True)
        for report in unproven:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            terminalreporter.write_line(f"{report.nodeid}: {reason.removeprefix('Skipped: ')}", red=True, bold=True)
