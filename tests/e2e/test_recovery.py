"""Crash recovery the way a person types it (issue 11): a runner killed with ``kill -9``, stopped with SIGTERM
or Ctrl-C, a disk that fills up, damaged state files — then plain ``python runner.py resume``.

Runs use a copy of the project (:class:`helpers.Project`) so notebooks can be slowed down by a cell that
sleeps, which gives the test a moment inside a task to kill the runner in.
"""

from __future__ import annotations

import html.parser
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from aapl_lib.store import layout
from helpers import WINDOW, Project, kernels_under

SLEEP = "import os, time\ntime.sleep(float(os.environ.get('AAPL_TEST_SLEEP', '0')))"
COMPARED = [
    "data/raw.csv",
    "data/cleaned.csv",
    "data/features.csv",
    "model/model.skops",
    "data/predictions.csv",
    "reports/walk_forward.json",
    "reports/evaluation.json",
]


def kernels_of(runner_pid: int) -> list[str]:
    """Command lines of the live kernels a runner started (their argv names the runner's pid)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = next((ln for ln in (proc / "status").read_text().splitlines() if ln.startswith("State:")), "")
        except OSError:
            continue
        if b"aapl_lib.runner.kernels.launcher" in argv and str(runner_pid).encode() in argv and "zombie" not in state:
            found.append(" ".join(a.decode() for a in argv))
    return found


def wait_for(predicate, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def task_running(project: Project, task: str):
    """A predicate: the newest run's manifest says ``task`` is running."""

    def check() -> bool:
        runs = sorted((project.outputs / "runs").iterdir()) if (project.outputs / "runs").is_dir() else []
        try:
            return (
                bool(runs)
                and json.loads((runs[-1] / "manifest.json").read_text())["tasks"][task]["status"] == "running"
            )
        except (OSError, ValueError, KeyError):
            return False

    return check


def start_slow_run(project: Project, notebook: str, *args: str) -> subprocess.Popen:
    """``runner.py --force`` with a cell in ``notebook`` that sleeps for a minute."""
    project.add_cell(notebook, SLEEP)
    return subprocess.Popen(
        project.cmd(*WINDOW, "--force", *args),
        cwd=project.root,
        env={**project.env, "AAPL_TEST_SLEEP": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def newest_run(project: Project) -> Path:
    return sorted((project.outputs / "runs").iterdir())[-1]


@pytest.fixture(scope="module")
def project(seeded_project, tmp_path_factory) -> Project:
    """A copy of the seeded project: one finished run, the reference every recovered run must equal."""
    proj = seeded_project.clone(tmp_path_factory.mktemp("recovery"))
    proj.reference = newest_run(proj)
    return proj


def test_kill_9_then_plain_resume_recovers_the_interrupted_run(project):
    runner = start_slow_run(project, "04_model_training.ipynb")
    try:
        wait_for(task_running(project, "model_training"), what="model_training to start")
        wait_for(lambda: kernels_of(runner.pid), timeout=30, what="the kernel")
        time.sleep(1.5)  # inside the sleeping cell
        tmp = Path(project.env.get("TMPDIR") or tempfile.gettempdir())  # the runner's, as the session set it
        scratch = list(tmp.glob(f"aapl-k-{runner.pid}-*"))  # its kernels' sockets
        assert len(scratch) == 1, scratch
        runner.send_signal(signal.SIGKILL)  # the runner only, as the OOM killer or `kill -9 PID` would
        runner.wait(timeout=30)
    finally:
        project.restore("04_model_training.ipynb")
    killed = newest_run(project)
    assert killed != project.reference
    # the executed notebook was saved whole (written aside, then renamed) and shows the cell that was running
    partial = json.loads((killed / "notebooks" / "04_model_training.ipynb").read_text())
    sleeping = [c for c in partial["cells"] if "AAPL_TEST_SLEEP" in "".join(c["source"])]
    assert [c["metadata"]["papermill"]["status"] for c in sleeping] == ["running"]
    wait_for(lambda: not kernels_of(runner.pid), timeout=10, what="the orphaned kernel to end")

    status = project.run("status")  # no id: the run worked on last
    assert status.returncode == 0, status.stderr
    assert f"run {killed.name}  status interrupted" in status.stdout
    assert f"continue it with: python runner.py resume {killed.name}" in status.stdout
    assert "model_training       interrupted" in status.stdout
    listing = project.run("list")
    assert f"{killed.name}" in listing.stdout and "interrupted" in listing.stdout
    browse = project.run("browse")
    assert browse.returncode == 0, browse.stderr
    index = (project.outputs / "index.html").read_text()
    assert 'class="st interrupted"' in index and f"python runner.py resume {killed.name}" in index
    assert f"python runner.py resume {killed.name}" in (killed / "index.html").read_text()

    resumed = project.run("resume")  # what a person types: no id
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run {killed.name} (interrupted)" in resumed.stdout
    # the killed runner's lock: released by the OS, taken over by the next runner, which says so
    assert f"took over the lock of run {killed.name} left by dead process {runner.pid}" in resumed.stdout
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["resumed"][0]["previous_status"] == "running"
    for rel in COMPARED:
        assert (killed / rel).read_bytes() == (project.reference / rel).read_bytes(), rel

    again = project.run("resume")
    assert again.returncode == 0 and "nothing to resume" in again.stdout
    assert not scratch[0].exists()  # the folder kill -9 left behind (no atexit ran) was swept by the resume


def test_a_run_killed_before_its_folder_exists_is_started_by_plain_resume_with_its_parameters(project):
    """``kill -9`` at the earliest moment a run exists: its intent recorded (``$AAPL_PAUSE_AT`` holds the runner
    there), its run folder not yet written. Before intents, plain ``resume`` said "nothing to resume" (exit 0)
    and that day's run silently never happened."""
    starting = subprocess.Popen(
        project.cmd(*WINDOW, "-p", "lock_timeout_seconds", "12"),
        cwd=project.root,
        env={**project.env, "AAPL_PAUSE_AT": "intent-written"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: layout.intent_paths(project.outputs), timeout=60, what="the run's intent")
    finally:
        starting.send_signal(signal.SIGKILL)
        starting.communicate(timeout=30)
    (intent,) = layout.intent_paths(project.outputs)
    run_id = intent.stem
    assert not (project.outputs / "runs" / run_id / "manifest.json").exists()  # killed before the folder

    listing = project.run("list")
    assert listing.returncode == 0 and run_id in listing.stdout, listing.stdout
    assert f"continue with: python runner.py resume {run_id}" in listing.stdout

    resumed = project.run("resume")  # what a person types: no id
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming run {run_id} (killed before its run folder was written)" in resumed.stdout
    assert f"run {run_id} succeeded" in resumed.stdout
    manifest = json.loads((project.outputs / "runs" / run_id / "manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["params"]["lock_timeout_seconds"] == 12.0  # as asked
    assert layout.intent_paths(project.outputs) == []  # the manifest stands for the run now
    again = project.run("resume")
    assert again.returncode == 0 and "nothing to resume" in again.stdout, again.stdout


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_stop_the_kernel_record_interrupted_and_resume(project, sig, code):
    from aapl_lib.io.locks import is_held

    runner = start_slow_run(project, "03_feature_engineering.ipynb")
    try:
        wait_for(task_running(project, "feature_engineering"), what="feature_engineering to start")
        wait_for(lambda: kernels_of(runner.pid), timeout=30, what="the kernel")
        time.sleep(1.5)
        runner.send_signal(sig)
        out, err = runner.communicate(timeout=60)
    finally:
        project.restore("03_feature_engineering.ipynb")
    run_dir = newest_run(project)
    assert runner.returncode == code, err
    assert f"interrupted by {sig.name} during feature_engineering" in err
    assert f"python runner.py resume {run_dir.name}" in err and "Traceback" not in err
    assert not kernels_of(runner.pid)
    assert not is_held(run_dir / ".lock")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["tasks"]["feature_engineering"]["status"] == "interrupted"
    assert manifest["tasks"]["model_training"]["status"] == "pending"

    resumed = project.run("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run {run_dir.name} (interrupted)" in resumed.stdout
    for rel in COMPARED:
        assert (run_dir / rel).read_bytes() == (project.reference / rel).read_bytes(), rel


def test_plain_resume_with_two_unfinished_runs_continues_the_newest(seeded_project, tmp_path):
    """Two runs that failed one after the other: plain ``resume`` continues the newer (the run a person just
    saw fail), then the next plain ``resume`` the older one. With a single unfinished run, taking the oldest
    would look the same; here it cannot."""
    proj = seeded_project.clone(tmp_path / "two-unfinished")
    proj.add_cell("02_data_cleaning.ipynb", "raise RuntimeError('simulated failure in cleaning')")
    failed = []
    try:
        for _ in range(2):
            proc = proj.run(*WINDOW)
            assert proc.returncode == 1 and "simulated failure in cleaning" in proc.stderr, proc.stderr
            failed.append(proj.latest())
    finally:
        proj.restore("02_data_cleaning.ipynb")
    older, newer = failed
    assert older.name < newer.name  # run ids sort by their start time
    assert proj.manifest(older)["status"] == proj.manifest(newer)["status"] == "failed"

    first = proj.run("resume")  # no id
    assert first.returncode == 0, first.stderr
    assert f"resuming run {newer.name} (failed)" in first.stdout
    assert proj.manifest(newer)["status"] == "success"
    assert proj.manifest(older)["status"] == "failed"  # untouched until it is the newest unfinished run

    second = proj.run("resume")
    assert second.returncode == 0, second.stderr
    assert f"resuming run {older.name} (failed)" in second.stdout
    assert proj.manifest(older)["status"] == "success"
    assert "nothing to resume" in proj.run("resume").stdout


def test_damaged_state_files_give_one_clear_message(project):
    run_dir = project.reference
    manifest = run_dir / "manifest.json"
    original = manifest.read_bytes()
    manifest.write_bytes(original[: len(original) // 2])  # truncated mid-write by hand or a broken disk
    try:
        status = project.run("status", run_dir.name)
        assert status.returncode == 1 and "Traceback" not in status.stderr
        assert f"{manifest} is damaged (not valid JSON" in status.stderr and "restore the file" in status.stderr
        listing = project.run("list")
        assert listing.returncode == 0 and "unreadable" in listing.stdout and "is damaged" in listing.stdout
        assert project.run("resume").returncode == 0  # never resumes a record it cannot read
        browse = project.run("browse")
        assert browse.returncode == 0 and "is damaged" in browse.stderr and "Traceback" not in browse.stderr
    finally:
        manifest.write_bytes(original)

    champion = project.outputs / "models" / "AAPL" / "champion.json"
    champion.parent.mkdir(parents=True, exist_ok=True)
    champion.write_text("{not json")
    try:
        proc = project.run(*WINDOW, "--force-task", "model_evaluation")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert f"the champion record {champion} is damaged" in proc.stderr
    finally:
        champion.unlink()

    # the reuse cache's index, half-written or deleted: the tasks that run write it anew (ingestion is enough)
    index = project.outputs / "cache" / "index.json"
    index.write_text('{"half": ')
    rerun = project.run(*WINDOW, "--end-task", "data_ingestion")
    assert rerun.returncode == 0, rerun.stderr
    assert project.statuses()["data_ingestion"] == "success" and len(json.loads(index.read_text())) == 1
    index.unlink()  # deleted by hand
    rerun = project.run(*WINDOW, "--end-task", "data_ingestion")
    assert rerun.returncode == 0, rerun.stderr
    assert project.statuses()["data_ingestion"] == "success" and len(json.loads(index.read_text())) == 1

    latest = project.outputs / "latest"
    latest.unlink()
    latest.symlink_to("runs/no-such-run")
    assert project.run("status").returncode == 0
    assert project.run(*WINDOW, "--end-task", "data_ingestion").returncode == 0
    assert latest.resolve().is_dir()


# Filled from a cell of notebook 03, run before the features are built (a feature function cannot write files:
# aapl_lib/features/sandbox.py refuses it).
FILL_DISK = """
import os, pathlib

# Fill the outputs' disk, as another program might while the run works.
filler = pathlib.Path(os.environ["AAPL_OUTPUTS_DIR"]) / "filler.bin"
with open(filler, "ab") as fh:
    try:
        while True:
            fh.write(b"x" * (1 << 16))
            fh.flush()
    except OSError:
        pass
"""


@pytest.mark.needs("tmpfs")
def test_a_full_disk_fails_the_task_cleanly_and_resume_works_once_space_is_back(tmp_path):
    proj = Project(tmp_path / "proj")
    proj.add_cell("03_feature_engineering.ipynb", FILL_DISK)
    proj.outputs.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(proj.outputs)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, mounted.stderr  # needs("tmpfs") mounted one already
    try:
        full = proj.run(*WINDOW)
        assert full.returncode == 1, full.stdout + full.stderr
        assert "Traceback" not in full.stderr and "No space left on device" in full.stderr
        run_dir = newest_run(proj)
        manifest = json.loads((run_dir / "manifest.json").read_text())  # still valid JSON
        assert manifest["tasks"]["data_cleaning"]["status"] == "success"
        for rel, info in manifest["tasks"]["data_cleaning"]["artifacts"].items():
            from aapl_lib.io.iorw import sha256_file

            assert sha256_file(run_dir / rel) == info["sha256"], rel  # earlier artifacts untouched
        assert not (run_dir / "data" / "features.csv").exists()
        assert not list(run_dir.rglob(".*.tmp"))  # no half-written temporary files left behind

        (proj.outputs / "filler.bin").unlink()
        proj.restore("03_feature_engineering.ipynb")
        resumed = proj.run("resume")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert json.loads((run_dir / "manifest.json").read_text())["status"] == "success"
    finally:
        subprocess.run(["umount", "-l", str(proj.outputs)], capture_output=True)


# ------------------------------------------------------------------------------------ untrusted text, permissions
MARKUP = '<script>alert("PWN1")</script><img src=x onerror=alert("PWN2")>[click](javascript:alert("PWN3"))*em*'


class _Elements(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_untrusted_text_stays_text_and_files_follow_the_umask(tmp_path):
    proj = Project(tmp_path / "proj")
    from helpers import sample_frame, write_classic_yahoo

    folder = tmp_path / "data <b onmouseover=PWN7>"
    folder.mkdir()
    csv = write_classic_yahoo(
        folder / 'AAPL <img src=x onerror=alert("PWN4")>.csv', sample_frame("2004-01-01", "2006-12-31")
    )
    lines = csv.read_text().splitlines()  # an extra column whose name is markup (ignored, but recorded)
    csv.write_text("\n".join([lines[0] + ',<script>alert("PWN5")</script>'] + [ln + ",1" for ln in lines[1:]]) + "\n")
    args = [
        *WINDOW,
        "-p",
        "source",
        "csv",
        "-p",
        "csv_path",
        str(csv),
        "-p",
        "approval_policy",
        "manual",
        "-p",
        "on_failure",
        "echo '<script>alert(\"PWN6\")</script>'",
    ]
    first = proj.run(*args, umask=0o027)
    assert first.returncode == 3, first.stdout + first.stderr
    run_dir = newest_run(proj)
    approved = proj.run("approve", run_dir.name, "--by", MARKUP, "--note", "looks fine " + MARKUP, umask=0o027)
    assert approved.returncode == 0, approved.stderr
    finished = proj.run("resume", run_dir.name, umask=0o027)
    assert finished.returncode == 0, finished.stderr
    assert proj.run("browse", umask=0o027).returncode == 0

    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "looks fine" in report and "&lt;script" in report  # the note is there, as text
    pages = [p for p in proj.outputs.rglob("*.html")]
    assert len(pages) >= 14, pages
    for page in pages:
        parser = _Elements()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, attrs in parser.found:
            for name, value in attrs:
                assert "PWN" not in f"{name}={value}" and "javascript:" not in str(value), (page, tag, name, value)
            assert not (tag == "img" and ("src", "x") in attrs), page
        assert not any("PWN" in s for s in parser.scripts), page

    # every file the run wrote, the pages and the registry: rw for the owner, r for the group, nothing for others
    written = [p for p in proj.outputs.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert any("models" in p.parts for p in written) and any(p.suffix == ".skops" for p in written)
    wrong = {
        str(p.relative_to(proj.outputs)): oct(p.stat().st_mode & 0o777)
        for p in written
        if p.stat().st_mode & 0o777 != 0o640
    }
    assert wrong == {}


def test_a_killed_batch_is_finished_by_plain_resume_without_new_runs(tmp_path):
    proj = Project(tmp_path / "proj")
    proj.add_cell("04_model_training.ipynb", SLEEP)
    batch = subprocess.Popen(
        proj.cmd(*WINDOW, "--tickers", "AAPL", "MSFT", "--workers", "2"),
        cwd=proj.root,
        env={**proj.env, "AAPL_TEST_SLEEP": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def both_training() -> bool:
        try:
            states = [
                json.loads((p / "manifest.json").read_text())["tasks"]["model_training"]["status"]
                for p in (proj.outputs / "runs").iterdir()
            ]
        except (OSError, ValueError, KeyError):
            return False
        return states == ["running", "running"]

    try:
        wait_for(both_training, timeout=180, what="both tickers to reach model_training")
        time.sleep(1.5)
        batch.send_signal(signal.SIGKILL)  # the batch's runner; its pool workers and their kernels must follow
        batch.communicate(timeout=30)
    finally:
        proj.restore("04_model_training.ipynb")
    runs = sorted((proj.outputs / "runs").iterdir())
    wait_for(lambda: not kernels_under(proj.root), timeout=20, what="the workers' kernels to end")
    for run_dir in runs:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "interrupted" and manifest["tasks"]["model_training"]["status"] == "interrupted"
    listing = proj.run("list")
    assert listing.stdout.count("interrupted") >= 2
    (batch_dir,) = (proj.outputs / "batches").iterdir()
    assert proj.run("browse").returncode == 0  # the batch's page and the index say so, with the command
    page = (batch_dir / "index.html").read_text()
    assert 'class="st interrupted"' in page and f"python runner.py resume {batch_dir.name}" in page
    assert f"python runner.py resume {batch_dir.name}" in (proj.outputs / "index.html").read_text()

    resumed = proj.run("resume")  # no id: the interrupted batch
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming batch {batch_dir.name} (interrupted)" in resumed.stdout
    assert sorted((proj.outputs / "runs").iterdir()) == runs  # the interrupted runs were finished, none started
    manifest = json.loads((batch_dir / "manifest.json").read_text())
    assert manifest["status"] == "success"
    assert {manifest["runs"][t]["run_id"] for t in ("AAPL", "MSFT")} == {r.name for r in runs}
