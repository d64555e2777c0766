"""How a notebook's kernel started, as the task's manifest record and the pids the watchdog stops: read from the
start file the launcher writes."""

from __future__ import annotations

import json

from aapl_lib.runner.kernels.fork_server import PREBUILD, PRELOAD
from aapl_lib.runner.kernels.manager import KernelStart, kernel_failed_to_start


def test_a_forked_kernel_is_recorded_with_its_warm_process_and_the_start_file_is_removed():
    start = KernelStart(warm=True)
    start.start_file.write_text(
        json.dumps({"start": "fork", "pid": 41, "warm_pid": 7, "warm_started_at": "2026-12-01T10:00:00+00:00"})
    )
    assert start.record() == {
        "start": "fork",
        "preloaded": list(PRELOAD),
        "prebuilt": list(PREBUILD),
        "warm_pid": 7,
        "warm_started_at": "2026-12-01T10:00:00+00:00",
    }
    assert not start.start_file.exists()


def test_an_ordinary_start_says_why_the_runners_reason_first():
    start = KernelStart(warm=True)
    start.start_file.write_text(json.dumps({"start": "cold", "pid": 41, "reason": "the launcher's reason"}))
    assert start.record() == {"start": "cold", "reason": "the launcher's reason"}
    start = KernelStart(warm=False, reason="warm kernels are off (warm_kernels: false)")
    start.start_file.write_text(json.dumps({"start": "cold", "pid": 41, "reason": "the launcher's reason"}))
    assert start.record() == {"start": "cold", "reason": "warm kernels are off (warm_kernels: false)"}
    assert KernelStart(warm=True).record() == {"start": "cold", "reason": "the kernel did not start"}  # no file


def test_the_pids_to_stop_are_the_launcher_and_the_forked_kernel_once_each():
    start = KernelStart(warm=True, launcher_pid=12)
    assert start.pids() == [12]  # the launcher has not written its start file yet
    start.start_file.write_text(json.dumps({"start": "fork", "pid": 41}))
    assert start.pids() == [12, 41]
    start.start_file.write_text(json.dumps({"start": "cold", "pid": 12}))  # an ordinary kernel is the launcher
    assert start.pids() == [12]


def test_a_kernel_that_never_answered_is_told_apart_from_a_failed_task():
    assert kernel_failed_to_start(RuntimeError("Kernel died before replying to kernel_info"))
    assert kernel_failed_to_start(TimeoutError("Kernel didn't respond in 60 seconds"))
    assert not kernel_failed_to_start(RuntimeError("ZeroDivisionError in cell 4"))
