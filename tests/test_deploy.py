"""``deploy/`` works as written on a fresh checkout: the crontab line run the way cron runs it (``env -i``,
``sh -c``, no TTY) and the systemd units checked by ``systemd-analyze verify``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT

# The live profile reads yfinance, which this machine cannot reach: the test appends overrides (later -p wins)
# that keep the line's shape and switch the data to the offline sample, so the run can finish here.
OFFLINE = (
    " -p source sample -p start 2011-01-01 -p end 2012-12-31 -p gb_n_estimators 20"
    " -p walk_forward_folds 2 -p approval_policy auto"
)


def fresh_checkout(target: Path) -> Path:
    """The committed files of the project (a clone when this is a git checkout), with the project's .venv."""
    cloned = subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], capture_output=True, text=True)
    if cloned.returncode != 0:
        shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(".venv", "outputs", "__pycache__", ".git"))
    for name in ("aapl_lib", "notebooks", "params", "runner.py"):  # this working tree, committed or not
        src, dst = ROOT / name, target / name
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    shutil.copy2(ROOT / "deploy" / "crontab", target / "deploy" / "crontab")
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def crontab_command() -> str:
    lines = [
        ln
        for ln in (ROOT / "deploy" / "crontab").read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 5)
    assert len(fields) == 6 and fields[4] == "1-5", fields  # minute hour day month weekday command
    return fields[5]


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="needs the project's .venv")
def test_the_crontab_line_runs_as_cron_runs_it_on_a_fresh_checkout(tmp_path):
    checkout = fresh_checkout(tmp_path / "aapl-pipeline")
    assert not (checkout / "outputs" / "logs").exists()  # what a fresh checkout has: no log folder
    command = crontab_command().replace("/opt/aapl-pipeline", str(checkout))
    assert command.endswith(">> outputs/logs/cron.log 2>&1")
    command = command.replace(" >> outputs/logs/cron.log", OFFLINE + " >> outputs/logs/cron.log")
    proc = subprocess.run(
        ["env", "-i", "HOME=" + str(tmp_path), "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )  # a new session: no controlling terminal
    log = (checkout / "outputs" / "logs" / "cron.log").read_text()
    assert proc.returncode == 0, proc.stderr + log
    assert proc.stdout == "" and proc.stderr == ""  # everything went to the log, as cron's mail would not want
    assert "[6/6] reporting" in log and " succeeded: " in log
    assert "\x1b[" not in log and "\r" not in log  # no progress bars or colours without a terminal
    runs = list((checkout / "outputs" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "reports" / "summary.pdf").is_file()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify(tmp_path):
    for name in ("aapl-pipeline.service", "aapl-pipeline.timer"):
        text = (ROOT / "deploy" / name).read_text()
        # the unit's install location and user, made real for the check
        text = text.replace("/opt/aapl-pipeline", str(ROOT)).replace("User=pipeline", f"User={os.getuid()}")
        (tmp_path / name).write_text(text)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "aapl-pipeline.service"), str(tmp_path / "aapl-pipeline.timer")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "aapl-pipeline" in ln]
    assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr
    service = (ROOT / "deploy" / "aapl-pipeline.service").read_text()
    assert "SuccessExitStatus=3" in service  # the manual profile's awaiting-approval exit is an expected outcome
    assert "-f params/aapl_2023.yaml" in service
    import yaml

    assert yaml.safe_load((ROOT / "params" / "aapl_2023.yaml").read_text())["approval_policy"] == "manual"
