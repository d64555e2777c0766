"""``deploy/`` works as written on a fresh checkout: the crontab lines run the way cron runs them (``env -i``,
``sh -c``, no TTY), the systemd units checked by ``systemd-analyze verify``, and every ``runner.py`` command
they hold parsed by the runner's own argument parser."""

from __future__ import annotations

import os
import shlex
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
    shutil.rmtree(target / "deploy", ignore_errors=True)
    shutil.copytree(ROOT / "deploy", target / "deploy")
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def crontab_command(kind: str = "run") -> str:
    """The command of the crontab's daily run (``run``, weekdays) or of its health check (``health``, the
    mornings after: Tuesday to Saturday)."""
    lines = [
        ln
        for ln in (ROOT / "deploy" / "crontab").read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert len(lines) == 2, lines
    found = {}
    for line in lines:
        fields = line.split(None, 5)  # minute hour day month weekday command
        found["health" if " runner.py health " in fields[5] else "run"] = fields
    assert found["run"][4] == "1-5" and found["health"][4] == "2-6", found
    return found[kind][5]


def runner_args(command: str) -> list[str]:
    """The arguments a shell command line gives ``runner.py`` (up to its first redirection or ``||``)."""
    words = shlex.split(command)
    words = words[words.index("runner.py") + 1 :]
    stops = [i for i, w in enumerate(words) if w in (">", ">>", "||", "&&", ";", "2>&1")]
    return words[: stops[0]] if stops else words


def test_every_runner_command_in_deploy_parses_with_the_runners_parser(capsys):
    from aapl_lib.cli import parse_args

    commands = {kind: crontab_command(kind) for kind in ("run", "health")}
    for name in ("aapl-pipeline.service", "aapl-pipeline-health.service"):
        (exec_start,) = [
            ln.split("=", 1)[1]
            for ln in (ROOT / "deploy" / name).read_text().splitlines()
            if ln.startswith("ExecStart=")
        ]
        commands[name] = exec_start
    parsed = {}
    for name, command in commands.items():
        args = runner_args(command)
        parsed[name] = parse_args(args)
    assert parsed["run"].command == parsed["aapl-pipeline.service"].command == "run"
    assert parsed["run"].file == parsed["aapl-pipeline.service"].file == "params/aapl_2023.yaml"
    for name in ("health", "aapl-pipeline-health.service"):
        assert parsed[name].command == "health" and parsed[name].max_age == 30, name
    # the live profile's on_failure hook is deploy/on_failure.sh, a valid shell script; the default profile has none
    import yaml

    hook = yaml.safe_load((ROOT / "params" / "aapl_2023.yaml").read_text())["on_failure"]
    assert shlex.split(hook) == ["sh", "deploy/on_failure.sh"]
    assert subprocess.run(["sh", "-n", str(ROOT / "deploy" / "on_failure.sh")]).returncode == 0
    assert yaml.safe_load((ROOT / "params" / "default.yaml").read_text())["on_failure"] == ""


@pytest.mark.needs("venv")
def test_the_crontab_line_runs_as_cron_runs_it_on_a_fresh_checkout(tmp_path):
    checkout = fresh_checkout(tmp_path / "aapl-pipeline")
    assert not (checkout / "outputs" / "logs").exists()  # what a fresh checkout has: no log folder

    def cron(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["env", "-i", "HOME=" + str(tmp_path), "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            start_new_session=True,
        )  # a new session: no controlling terminal

    check = crontab_command("health").replace("/opt/aapl-pipeline", str(checkout))
    proc = cron(check)  # before any run: what cron mails is the problem
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith(f"no runs in {checkout / 'outputs' / 'runs'}: "), proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("UNHEALTHY: ")
    command = crontab_command().replace("/opt/aapl-pipeline", str(checkout))
    assert command.endswith(">> outputs/logs/cron.log 2>&1")
    command = command.replace(" >> outputs/logs/cron.log", OFFLINE + " >> outputs/logs/cron.log")
    proc = cron(command)
    log = (checkout / "outputs" / "logs" / "cron.log").read_text()
    assert proc.returncode == 0, proc.stderr + log
    assert proc.stdout == "" and proc.stderr == ""  # everything went to the log, as cron's mail would not want
    assert "[6/6] reporting" in log and " succeeded: " in log
    assert "\x1b[" not in log and "\r" not in log  # no progress bars or colours without a terminal
    runs = list((checkout / "outputs" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "reports" / "summary.pdf").is_file()
    proc = cron(check)  # the morning after: healthy, nothing to mail
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    assert (
        f"AAPL: ok: newest successful run {runs[0].name} (success)"
        in (checkout / "outputs" / "logs" / "health.txt").read_text()
    )


@pytest.mark.needs("systemd-analyze")
def test_the_systemd_units_verify(tmp_path):
    names = (
        "aapl-pipeline.service",
        "aapl-pipeline.timer",
        "aapl-pipeline-health.service",
        "aapl-pipeline-health.timer",
    )
    for name in names:
        text = (ROOT / "deploy" / name).read_text()
        # the unit's install location and user, made real for the check
        text = text.replace("/opt/aapl-pipeline", str(ROOT)).replace("User=pipeline", f"User={os.getuid()}")
        (tmp_path / name).write_text(text)
    proc = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in names)],
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
