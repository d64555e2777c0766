"""This process's warm process, in-process: where kept ones live, which one a kernel start uses (a batch's
shared one, this process's own), when it is replaced and how long a new one is kept."""

from __future__ import annotations

import os
import tempfile

import pytest

from aapl_lib.runner.kernels import warm_pool
from aapl_lib.runner.kernels.warm_pool import (
    SHARED_SOCKET_ENV,
    SharedWarmKernels,
    kept_dir,
    params_keep_s,
    params_warm,
    stop_warm_kernels,
    warm_kernels,
)


@pytest.fixture(autouse=True)
def _no_warm_process_left(monkeypatch):
    monkeypatch.delenv(SHARED_SOCKET_ENV, raising=False)
    stop_warm_kernels()
    yield
    stop_warm_kernels()


class _Recorded:
    """Stands in for a spawned warm process: records what it was asked for; ``alive`` says whether it serves."""

    made: list[_Recorded] = []

    def __init__(self, env: dict[str, str], keep_s: float = 0.0) -> None:
        self.keep_s, self.alive, self.stopped = keep_s, True, False
        _Recorded.made.append(self)

    def matches(self, env: dict[str, str]) -> bool:
        return self.alive

    def stop(self) -> None:
        self.stopped = True


def test_warm_processes_are_kept_only_in_a_folder_of_this_user_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    folder = tmp_path / f"aapl-warm-{os.getuid()}"
    assert kept_dir() == folder and folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o750)  # a socket others can reach would fork their code as this user
    assert kept_dir() is None


def test_a_batchs_warm_process_is_borrowed_while_its_socket_lives_and_never_stopped_here(tmp_path, monkeypatch):
    first_socket, second_socket = tmp_path / "a.sock", tmp_path / "b.sock"
    first_socket.touch()
    second_socket.touch()
    monkeypatch.setenv(SHARED_SOCKET_ENV, str(first_socket))
    first = warm_kernels()
    assert isinstance(first, SharedWarmKernels) and first.socket == first_socket
    assert warm_kernels() is first and first.wait_ready() is None
    first_socket.unlink()  # the batch's warm process is gone: the next start uses another
    assert first.wait_ready() == "the batch's warm process is gone"
    monkeypatch.setenv(SHARED_SOCKET_ENV, str(second_socket))
    second = warm_kernels()
    assert second is not first and second.socket == second_socket
    stop_warm_kernels()
    assert second_socket.exists()  # the batch's, not ours to stop


def test_a_warm_process_is_kept_while_it_serves_and_its_replacement_is_kept_as_long_as_the_run_asked(monkeypatch):
    monkeypatch.setattr(warm_pool, "WarmKernels", _Recorded)
    _Recorded.made.clear()
    first = warm_kernels(keep_s=30.0)
    assert warm_kernels() is first and first.keep_s == 30.0
    first.alive = False  # it died (or the environment changed)
    second = warm_kernels()  # a start in the middle of the run: kept as long as the run asked
    assert second is not first and first.stopped and second.keep_s == 30.0
    assert warm_kernels(keep_s=0.0) is second  # a later run asks for 0: the one that serves stays
    second.alive = False
    assert warm_kernels().keep_s == 0.0
    assert len(_Recorded.made) == 3


def test_the_run_parameters_say_whether_and_how_long_warm_processes_are_kept():
    assert params_warm({}) is True and params_warm({"warm_kernels": False}) is False
    assert params_keep_s({}) == 0.0 and params_keep_s({"warm_kernels_keep_seconds": 600}) == 600.0


def test_scratch_folders_of_dead_runners_are_swept_and_live_ones_kept(tmp_path):
    """``kill -9`` leaves a runner's scratch folder behind (no atexit runs): the next runner's sweep deletes the
    folders of processes that are gone, never a live process's nor one whose fork server still listens."""
    import socket
    import subprocess

    from aapl_lib.runner.kernels.warm_pool import SCRATCH_PREFIX, sweep_scratch

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process has any more
    dead = tmp_path / f"{SCRATCH_PREFIX}{gone.pid}-abc"
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def"
    serving = tmp_path / f"{SCRATCH_PREFIX}{gone.pid}-ghi"
    unnamed = tmp_path / f"{SCRATCH_PREFIX}xyz"  # not named by a pid: not ours to judge
    for folder in (dead, live, serving, unnamed):
        folder.mkdir()
        (folder / "k-1.start.json").write_text("{}")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(serving / "fork-server-1"))
    listener.listen()
    try:
        assert sweep_scratch(tmp_path) == [dead]
    finally:
        listener.close()
    assert not dead.exists() and live.is_dir() and serving.is_dir() and unnamed.is_dir()
    assert sweep_scratch(tmp_path) == [serving]  # once its fork server is gone too
