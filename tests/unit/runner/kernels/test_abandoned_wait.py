"""A kernel start that gives up waiting for the warm process must not keep the run's process alive at exit."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from helpers import ROOT

ABANDON = """
import asyncio, sys, time
from aapl_lib.runner.kernels.manager import in_daemon_thread

async def main():
    try:  # a kernel start cancelled by its timeout while the wait for the warm process goes on
        await asyncio.wait_for(WAIT(lambda: time.sleep(60)), timeout=0.2)
    except TimeoutError:
        pass
    print("succeeded", flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("wait", ["in_daemon_thread", "asyncio.to_thread"])
def test_a_run_exits_promptly_after_its_outcome_though_a_wait_was_abandoned(wait):
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", ABANDON.replace("WAIT", wait)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "succeeded"
    try:
        proc.wait(timeout=10)
        stayed_alive = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        stayed_alive = True
    # asyncio.to_thread is the control: Python joins its thread at exit, which is the bug this guards against
    assert stayed_alive == (wait == "asyncio.to_thread"), f"{wait}: {time.monotonic() - started:.1f} s"


def test_the_answer_and_the_error_of_the_work_reach_the_awaiting_task():
    import asyncio

    from aapl_lib.runner.kernels.manager import in_daemon_thread

    assert asyncio.run(in_daemon_thread(lambda: "ready")) == "ready"

    def fails():
        raise OSError("no socket")

    with pytest.raises(OSError, match="no socket"):
        asyncio.run(in_daemon_thread(fails))
