"""``aapl_lib.cli.main`` in process with a temporary ``--outputs``: ``list`` and ``status`` on an empty outputs
folder, and the exit code of each error a command may end with (a handler made to raise it)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

import aapl_lib.cli.runs
from aapl_lib.cli import main
from aapl_lib.errors import CorruptStateError, IntegrityError, ParameterError, PipelineError, StorageError
from aapl_lib.io.locks import LockBusyError
from aapl_lib.io.project import OUTPUTS_ENV
from aapl_lib.pipeline.exit_codes import Exit


@pytest.fixture()
def outputs(tmp_path: Path, monkeypatch) -> Path:
    """An empty outputs folder; main() points $AAPL_OUTPUTS_DIR at it, monkeypatch puts it back after."""
    monkeypatch.setenv(OUTPUTS_ENV, str(tmp_path / "elsewhere"))
    folder = tmp_path / "outputs"
    folder.mkdir()
    return folder


def test_list_on_an_empty_outputs_folder_says_so(outputs, capsys):
    assert main(["list", "--outputs", str(outputs)]) == Exit.OK
    assert capsys.readouterr().out == f"no runs in {outputs / 'runs'}\n"
    assert main(["--outputs", str(outputs), "list", "--json"]) == Exit.OK
    assert json.loads(capsys.readouterr().out) == []


def test_status_on_an_empty_outputs_folder_is_a_usage_error(outputs, capsys):
    assert main(["--outputs", str(outputs), "status"]) == Exit.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: there is no run in {outputs / 'runs'} yet")


def test_main_points_the_kernels_at_the_outputs_folder_given_before_the_command(outputs):
    import os

    assert main(["--outputs", str(outputs), "list"]) == Exit.OK
    assert os.environ[OUTPUTS_ENV] == str(outputs.resolve())


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (LockBusyError("run folder locked by pid 1"), Exit.LOCKED),
        (IntegrityError("manifest damaged"), Exit.FAILED),
        (CorruptStateError("state damaged"), Exit.FAILED),
        (StorageError("disk full"), Exit.FAILED),
        (ParameterError("bad ticker"), Exit.USAGE),
        (PipelineError("bad usage"), Exit.USAGE),
        (OSError(errno.ENOSPC, "No space left on device", "/full/disk/file"), Exit.FAILED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(int(value)),
)
def test_each_error_a_handler_raises_ends_with_its_exit_code(error, code, outputs, monkeypatch, capsys):
    def failing(args, root, outputs):
        raise error

    monkeypatch.setattr(aapl_lib.cli.runs, "list_command", failing)  # registered when main builds the parser
    assert main(["list", "--outputs", str(outputs)]) == code
    err = capsys.readouterr().err
    if isinstance(error, PipelineError):
        assert err == f"error: {error}\n"
    else:  # a disk that refused a write: said as a StorageError naming the file
        assert err.startswith("error: cannot write /full/disk/file: No space left on device;")


@pytest.mark.parametrize("error", [OSError(errno.EACCES, "Permission denied", "/x"), KeyError("bug")])
def test_an_unexpected_error_is_not_swallowed(error, outputs, monkeypatch):
    def failing(args, root, outputs):
        raise error

    monkeypatch.setattr(aapl_lib.cli.runs, "list_command", failing)
    with pytest.raises(type(error)):
        main(["list", "--outputs", str(outputs)])
