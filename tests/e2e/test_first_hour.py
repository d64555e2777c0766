"""The command-line slips of a first hour (issue 27), each tried through ``runner.py`` as a person types it:
an interpreter without the project's dependencies, a reader that closes the pipe early (``| head -1``), a
misspelt command, task or parameter, ``--as-of`` a day that has not come yet, the task logs' levels, and the
follow-up commands a run prints, pasted as printed into a shell whose outputs folder is another one.

``project`` (conftest.py) is this module's copy of a project with one finished run of ``WINDOW``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aapl_lib.store import layout
from helpers import ROOT, WINDOW, Project, run_runner


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single line a usage error prints (exit 2, nothing on stdout)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == "", proc.stdout
    return lines[0]


# ------------------------------------------------------------------------------------------ 1. no .venv


def test_an_interpreter_without_the_dependencies_is_told_in_one_line_which_command_has_them(tmp_path):
    # ``-S``: this very interpreter without its site-packages, as the system python3 is (no filelock, papermill)
    outputs = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-S", "runner.py", "--end-task", "data_ingestion", "--outputs", str(outputs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = one_error_line(proc)
    assert "lacks the project's dependencies (no module named '" in line
    assert f".venv/bin/python runner.py --end-task data_ingestion --outputs {outputs}" in line
    assert f"aapl-pipeline --end-task data_ingestion --outputs {outputs}" in line
    assert "make .venv/.installed-stamp" in line and "Traceback" not in proc.stderr
    assert not outputs.exists()


# ------------------------------------------------------------------------------------------ 2. | head -1


def closed_pipe(project: Project, *args: str) -> subprocess.CompletedProcess:
    """``runner.py ARGS`` writing into a pipe whose reader has already gone (``| head -1`` once head has its
    line): the read end is closed before the command writes anything."""
    proc = subprocess.Popen(
        project.cmd(*args), cwd=project.root, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err.decode())


def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly_with_141(project):
    run_id = project.seed_run
    for args in (["track", "AAPL", "--json"], ["compare", run_id, run_id], ["status"], ["list"]):
        proc = closed_pipe(project, *args)
        assert proc.stderr == "" and proc.returncode == 141, (args, proc.returncode, proc.stderr)
    # and through a shell, as typed: the pipeline's status is head's, pipefail's the runner's 141 at most
    shell = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {shlex.join(project.cmd('list'))} | head -1"],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.stderr == "" and shell.returncode in (0, 141), shell.stderr
    assert shell.stdout.startswith("run id")


# ------------------------------------------------------------------------------------------ 3. did you mean


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["lst"], "error: unknown command 'lst' — did you mean 'list'?"),
        (["--log-level", "DEBUG", "stauts"], "error: unknown command 'stauts' — did you mean 'status'?"),
        (["--end-task", "training"], "error: --end-task: invalid choice 'training' — did you mean 'model_training'?"),
        (["--start-task", "reportng"], "error: --start-task: invalid choice 'reportng' — did you mean 'reporting'?"),
        (["--force-task", "data_clean"], "error: --force-task: invalid choice 'data_clean' — did you mean "),
    ],
)
def test_a_misspelt_command_or_task_answers_one_line_with_the_nearest_names(tmp_path, args, expected):
    outputs = tmp_path / "out"
    line = one_error_line(run_runner(*args, outputs=outputs))
    assert line.startswith(expected), line
    assert not outputs.exists()


def test_a_command_nothing_is_near_lists_the_commands(tmp_path):
    line = one_error_line(run_runner("frobnicate", outputs=tmp_path / "out"))
    assert line.startswith("error: unknown command 'frobnicate' — the commands are run, resume, status, list")


def test_a_parameter_typo_names_the_nearest_parameters_not_all_of_them(tmp_path):
    from aapl_lib.pipeline.parameters import PARAMETERS

    profile = tmp_path / "mine.yaml"
    profile.write_text("ticker: AAPL\nridge_alfa: 3\n", encoding="utf-8")
    for args, unknown, near in (
        (["-p", "tickr", "MSFT"], "'tickr' in -p", "did you mean 'ticker' or 'tickers'?"),
        (["--param", "tickr=MSFT"], "'tickr' in -p", "did you mean 'ticker' or 'tickers'?"),  # kedro's habit
        (["-f", str(profile)], f"'ridge_alfa' in params file {profile}", "did you mean 'ridge_alpha'?"),
    ):
        line = one_error_line(run_runner(*args, outputs=tmp_path / "out"))
        assert f"unknown parameter {unknown} — {near}" in line
        assert f"--list-params lists all {len(PARAMETERS)}" in line
        assert "csv_path" not in line and len(line) < 200, line  # not every name in one line
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ 4. --as-of


@pytest.mark.parametrize("day", [dt.date.today() + dt.timedelta(days=1), dt.date(2031, 1, 5)])
def test_as_of_a_day_after_today_is_refused_in_one_line(tmp_path, day):
    line = one_error_line(run_runner("--as-of", day.isoformat(), outputs=tmp_path / "out"))
    assert line == (
        f"error: --as-of {day} is in the future (today is {dt.date.today()}): no daily run can have happened "
        "on it; pick today or an earlier day"
    )
    line = one_error_line(run_runner("replay", "--from", "2013-01-02", "--to", str(day), outputs=tmp_path / "out"))
    assert line.startswith(f"error: --to {day} is in the future")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ 5. task logs


def test_task_logs_keep_each_notebook_lines_own_level(project):
    logs = project.outputs / "runs" / project.seed_run / "logs"
    ingestion = (logs / "data_ingestion.log").read_text(encoding="utf-8")
    assert re.search(r"^\[[0-9TZ:-]+\] \[data_ingestion\] \[INFO\] fetched \d+ rows of AAPL", ingestion, re.M)
    for log in logs.glob("*.log"):
        text = log.read_text(encoding="utf-8")
        # papermill logs a kernel's stderr as WARNING: a line of the kernel's own log must not come wrapped in one
        assert not re.search(r"\[(DEBUG|INFO|WARNING|ERROR)\] \[\d{4}-\d\d-\d\dT", text), log.name


# ------------------------------------------------------------------------------------------ 6. follow-ups


def pasted(command: str, project: Project) -> subprocess.CompletedProcess:
    """``command`` as printed (``python runner.py …``), placeholders filled, run in the project by a shell
    whose $AAPL_OUTPUTS_DIR is the project's own outputs folder: only the command says where to look."""
    words = shlex.split(command.replace("--by NAME [--note TEXT]", "--by first-hour"))
    assert words[:2] == ["python", "runner.py"], command
    return subprocess.run(
        [sys.executable, *words[1:]], cwd=project.root, env=project.env, capture_output=True, text=True, timeout=300
    )


def printed_commands(text: str) -> list[str]:
    return [m.strip() for m in re.findall(r"python runner\.py [^\n]*", text)]


def test_every_follow_up_command_printed_works_when_pasted(project, tmp_path):
    elsewhere = project.copy_outputs(tmp_path / "other outputs")  # a space: the folder must come quoted
    quoted = f"--outputs {shlex.quote(str(elsewhere))}"
    waiting = project.run(*WINDOW, "-p", "approval_policy", "manual", "--outputs", str(elsewhere))
    assert waiting.returncode == 3, waiting.stderr
    approve, reject, resume = printed_commands(waiting.stdout)
    assert all(c.endswith(quoted) for c in (approve, reject, resume)), waiting.stdout
    words = shlex.split(approve)
    run_id = words[words.index("approve") + 1]
    # what status and the operations page say to type next is pasteable too
    status = project.run("status", run_id, "--outputs", str(elsewhere))
    assert f"python runner.py resume {run_id} {quoted}" in status.stdout, status.stdout
    page = html.unescape(layout.operations_page(elsewhere).read_text())
    assert f"python runner.py approve {run_id} --by NAME [--note TEXT] {quoted}" in page
    decided = pasted(approve, project)
    assert decided.returncode == 0, decided.stderr
    (finish,) = printed_commands(decided.stdout)
    assert finish == f"python runner.py resume {run_id} {quoted}"
    finished = pasted(finish, project)
    assert finished.returncode == 0, finished.stderr
    assert json.loads((elsewhere / "runs" / run_id / "manifest.json").read_text())["status"] == "success"

    # Ctrl-C: the command that continues the run, pasted as printed
    runner = subprocess.Popen(
        project.cmd(*WINDOW, "--force", "--outputs", str(elsewhere)),
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = elsewhere / "runs"
    deadline = time.time() + 120
    while len(list(runs.iterdir())) < 3 and time.time() < deadline:  # the forced run's folder exists
        time.sleep(0.2)
    time.sleep(2)
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 130, err
    (continue_it,) = printed_commands(err)
    interrupted = sorted(runs.iterdir())[-1].name
    assert continue_it == f"python runner.py resume {interrupted} {quoted}", err
    resumed = pasted(continue_it, project)
    assert resumed.returncode == 0, resumed.stderr
    shutil.rmtree(elsewhere)


# ------------------------------------------------------------------------------------------ replay and Ctrl-C
def _a_task_running(runs: Path) -> bool:
    """A run under ``runs`` whose manifest says one of its tasks is running (a signal now interrupts it)."""
    for manifest in runs.glob("*/manifest.json") if runs.is_dir() else []:
        try:
            if any(t["status"] == "running" for t in json.loads(manifest.read_text())["tasks"].values()):
                return True
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # being written
    return False


def test_ctrl_c_stops_a_replay_with_130_and_the_command_that_continues_it(tmp_path):
    """Ctrl-C during ``replay``: the day's run records its interruption, the replay exits 130 with one line
    naming the day and the replay command that continues from it, and no traceback."""
    outputs = tmp_path / "out"
    fast = ["-p", "start", "2011-06-01", "-p", "gb_n_estimators", "25", "-p", "walk_forward_folds", "3"]
    replay = subprocess.Popen(
        [sys.executable, str(ROOT / "runner.py"), "replay", "--from", "2013-01-09", "--to", "2013-01-11", *fast]
        + ["--outputs", str(outputs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = outputs / "runs"
    deadline = time.time() + 180
    while not _a_task_running(runs) and time.time() < deadline:  # the day's run is at work on a task
        time.sleep(0.1)
    replay.send_signal(signal.SIGINT)
    out, err = replay.communicate(timeout=180)
    assert replay.returncode == 130, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("replay stopped")]
    assert line.startswith("replay stopped during 2013-01-09 (day 1 of 3, exit 130)"), line
    (again,) = printed_commands(line)
    words = shlex.split(again)
    assert words[2:7] == ["replay", "--from", "2013-01-09", "--to", "2013-01-11"], again
    assert " ".join(words[7:-2]) == " ".join(fast) and words[-2:] == ["--outputs", str(outputs)]
    (run_dir,) = list(runs.iterdir())
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    assert "replay 2/3" not in out  # nothing after the day it stopped in
