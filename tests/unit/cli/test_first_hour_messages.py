"""The messages of a first hour's slips (issue 27), in process: the nearest names of a misspelt command, task
or parameter; the one line for an interpreter without the project's dependencies; ``--as-of`` after today;
follow-up commands with ``--outputs DIR``; task-log lines re-logged by papermill at their own level.
tests/e2e/test_first_hour.py tries each through ``runner.py``."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

import aapl_lib.cli.runs
from aapl_lib.cli import CLOSED_PIPE, main, parse_args
from aapl_lib.cli.arguments import refuse_future_day
from aapl_lib.errors import ParameterError
from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.logs import file_handler, relogged
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.spelling import did_you_mean, nearest
from helpers import ROOT


def test_the_nearest_names_closest_first_and_none_for_a_word_near_nothing():
    assert nearest("lst", ["run", "list", "status"]) == ["list"]
    assert nearest("frobnicate", ["run", "list", "status"]) == []
    assert did_you_mean("lst", ["run", "list"]) == "did you mean 'list'?"
    assert did_you_mean("tickr", ["ticker", "tickers", "start"]) == "did you mean 'ticker' or 'tickers'?"
    assert did_you_mean("model_x", ["model_a", "model_b", "model_c", "model_d"]).count("'") == 6  # three at most
    assert did_you_mean("frobnicate", ["run"]) == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lst"], "unknown command 'lst' — did you mean 'list'?"),
        (["--outputs", "X", "lst", "--json"], "unknown command 'lst' — did you mean 'list'?"),
        (["--only", "reportin"], "--only: invalid choice 'reportin' — did you mean 'reporting'?"),
    ],
)
def test_a_misspelt_command_or_task_is_a_parameter_error_naming_the_nearest(argv, message):
    with pytest.raises(ParameterError) as raised:
        parse_args(argv)
    assert str(raised.value) == message


def test_options_and_their_values_are_not_taken_for_a_command():
    assert parse_args(["-p", "ticker", "MSFT"]).command == "run"
    assert parse_args(["--outputs", "lst"]).outputs == "lst"  # a value, not a misspelt command
    assert parse_args(["--force-task", "reporting", "--force-task", "model_training"]).force_task == [
        "reporting",
        "model_training",
    ]


def test_p_key_equals_value_is_read_as_p_key_value_only_when_no_value_follows():
    assert parse_args(["--param", "ticker=MSFT"]).parameter == [["ticker", "MSFT"]]
    assert parse_args(["-p", "ticker=MSFT", "-p", "start", "2005-01-01"]).parameter == [
        ["ticker", "MSFT"],
        ["start", "2005-01-01"],
    ]
    assert parse_args(["-p", "csv_path", "a=b.csv"]).parameter == [["csv_path", "a=b.csv"]]
    assert parse_args(["-p", "note=", "x"]).parameter == [["note=", "x"]]  # a value follows: as given


def test_main_answers_a_misspelt_command_in_one_line_with_exit_2(tmp_path, capsys):
    assert main(["lst", "--outputs", str(tmp_path)]) == Exit.USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "error: unknown command 'lst' — did you mean 'list'?\n"


def _failing_list(monkeypatch, error: BaseException) -> None:
    def failing(args, root, outputs):
        raise error

    monkeypatch.setattr(aapl_lib.cli.runs, "list_command", failing)  # registered when main builds the parser


def test_a_missing_third_party_module_is_one_line_naming_the_command_that_has_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    _failing_list(monkeypatch, ModuleNotFoundError("No module named 'filelock'", name="filelock"))
    assert main(["list", "--outputs", str(tmp_path / "my out")]) == Exit.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lacks the project's dependencies (no module named 'filelock')" in err
    assert f".venv/bin/python runner.py list --outputs '{tmp_path / 'my out'}'" in err
    assert "make .venv/.installed-stamp installs them" in err


def test_a_module_of_the_package_that_fails_to_import_is_a_bug_and_keeps_its_traceback(tmp_path, monkeypatch):
    _failing_list(monkeypatch, ModuleNotFoundError("No module named 'aapl_lib.nope'", name="aapl_lib.nope"))
    with pytest.raises(ModuleNotFoundError):
        main(["list", "--outputs", str(tmp_path)])


def test_the_closed_pipe_exit_code_is_the_shells_for_sigpipe():
    assert CLOSED_PIPE == 141  # 128 + SIGPIPE (13): what `set -o pipefail` reports for `yes | head -1`


def test_a_day_after_today_is_refused_and_today_or_text_left_to_the_parameter_checks():
    today = dt.date.today()
    refuse_future_day(today.isoformat(), "--as-of")
    refuse_future_day("today", "--as-of")  # resolved (and checked) by the parameters
    refuse_future_day("2013-02-30", "--as-of")  # not a date: the parameter check says so
    with pytest.raises(ParameterError, match=r"^--to 2031-01-05 is in the future \(today is "):
        refuse_future_day(dt.date(2031, 1, 5), "--to")


def test_a_follow_up_names_the_outputs_folder_unless_it_is_the_projects_own(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert follow_up("resume R1", ROOT / "outputs") == "python runner.py resume R1"
    elsewhere = tmp_path / "other outputs"
    assert follow_up("approve R1 --by NAME", elsewhere) == (
        f"python runner.py approve R1 --by NAME --outputs '{elsewhere}'"
    )


def test_the_parameter_typo_names_the_nearest_parameters(tmp_path):
    from aapl_lib.pipeline.config import resolve_params
    from aapl_lib.pipeline.parameters import PARAMETERS

    with pytest.raises(ParameterError) as raised:
        resolve_params(ROOT / "params" / "default.yaml", [("ridge_alfa", "3")])
    assert str(raised.value) == (
        "unknown parameter 'ridge_alfa' in -p — did you mean 'ridge_alpha'? "
        f"(--list-params lists all {len(PARAMETERS)})"
    )
    with pytest.raises(ParameterError, match=r"task_retries names unknown task 'model_trainig': did you mean"):
        resolve_params(ROOT / "params" / "default.yaml", [("task_retries", "{model_trainig: 1}")])


def _record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("papermill", level, "", 0, message, None, None)


def test_a_kernels_own_log_lines_keep_their_level_time_and_task():
    lines = (
        "[2026-12-03T14:49:46Z] [data_ingestion] [INFO] fetched 2517 rows\n"
        "[2026-12-03T14:49:47Z] [data_ingestion] [ERROR] boom\nTraceback (most recent call last):\n  line 1\n"
    )
    parts = relogged(_record(lines))
    assert [(p.levelname, p.levelno, p.task, p.getMessage()) for p in parts] == [
        ("INFO", logging.INFO, "data_ingestion", "fetched 2517 rows"),
        ("ERROR", logging.ERROR, "data_ingestion", "boom\nTraceback (most recent call last):\n  line 1"),
    ]
    assert parts[0].created == dt.datetime(2026, 12, 3, 14, 49, 46, tzinfo=dt.UTC).timestamp()
    plain = _record("/x.py:3: UserWarning: careful\n")
    assert relogged(plain) == [plain]  # a real warning on the kernel's stderr stays papermill's WARNING


def test_the_task_log_writes_them_once_and_leaves_out_those_below_its_level(tmp_path: Path):
    path = tmp_path / "logs" / "t.log"
    handler = file_handler(path, "data_ingestion", logging.INFO)
    logger = logging.getLogger("aapl_test_first_hour")
    logger.addHandler(handler)
    try:
        logger.warning(
            "[2026-12-03T14:49:46Z] [data_ingestion] [DEBUG] hidden\n"
            "[2026-12-03T14:49:46Z] [data_ingestion] [INFO] fetched 2517 rows\n"
        )
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert path.read_text(encoding="utf-8") == "[2026-12-03T14:49:46Z] [data_ingestion] [INFO] fetched 2517 rows\n"
