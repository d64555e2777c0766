"""The kernel launcher's command line, in-process: what the runner asks jupyter_client to start (the kernelspec)
and how the launcher reads it back; a broken module path or flag would start no kernel at all."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from aapl_lib.runner.import_closure import PACKAGE_DIR
from aapl_lib.runner.kernels import launcher
from aapl_lib.runner.kernels.manager import KernelStart, launcher_kernel_spec


def test_the_command_names_an_importable_launcher_run_by_this_interpreter():
    argv = launcher.command(123, "/tmp/start.json", None)
    assert argv == [sys.executable, "-m", "aapl_lib.runner.kernels.launcher", "123", "/tmp/start.json"]
    spec = importlib.util.find_spec(argv[2])  # what ``python -m`` will run
    assert spec is not None and Path(spec.origin) == Path(launcher.__file__)


def test_the_launcher_reads_back_what_the_command_says_with_and_without_a_fork_server():
    kernel_args = ["-f", "/tmp/kernel-1.json"]
    forked = launcher.command(123, "/tmp/start.json", "/tmp/fs.sock")[3:] + kernel_args
    assert launcher.parse_command(forked) == (123, "/tmp/start.json", "/tmp/fs.sock", kernel_args)
    ordinary = launcher.command(123, "/tmp/start.json", None)[3:] + kernel_args
    assert launcher.parse_command(ordinary) == (123, "/tmp/start.json", None, kernel_args)


def test_the_kernelspec_starts_the_launcher_for_this_process_with_the_projects_aapl_lib_first():
    start = KernelStart(warm=True)
    spec = launcher_kernel_spec(start, "/tmp/fs.sock")
    assert spec.argv == [
        sys.executable,
        "-m",
        "aapl_lib.runner.kernels.launcher",
        str(os.getpid()),  # the launcher ends its kernel when this process is gone
        str(start.start_file),
        "--fork-server",
        "/tmp/fs.sock",
        "-f",
        "{connection_file}",
    ]
    # the kernel imports the aapl_lib the runner fingerprinted, not another installed copy
    assert spec.env["PYTHONPATH"].split(os.pathsep)[0] == str(PACKAGE_DIR.parent)
    assert "--fork-server" not in launcher_kernel_spec(start, None).argv
