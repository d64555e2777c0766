"""``compare``, ``verify`` and ``reproduce``: how two runs differ, is a run's evidence still what it recorded,
and does running it again give the same results?

``compare`` prints the parameter, artifact (sha256) and metric differences of two runs and builds their page.
``verify`` checks every artifact a run's manifest records (each task's files with their sha256, and the
approval gate's ``reports/decision.json``) against the files in its folder: ok, changed or missing.
``reproduce`` re-executes a run into a scratch outputs folder (:mod:`aapl_lib.runner.reproduce`) and says,
artifact by artifact, whether the reproduction wrote the same (:mod:`aapl_lib.views.artifact_diff`).

Only the standard library and ``aapl_lib.cli``/``pipeline`` at module level: ``aapl_lib.cli`` imports this on
its no-op path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aapl_lib.cli.arguments import Subparsers, add_operator_code, chosen_params_file
from aapl_lib.pipeline.exit_codes import Exit


def register(subparsers: Subparsers) -> None:
    """Add ``compare``, ``verify`` and ``reproduce``."""
    cmp_ = subparsers.add_parser("compare", help="parameter, artifact (sha256) and metric differences of two runs")
    cmp_.add_argument("run_a", metavar="RUN_A")
    cmp_.add_argument("run_b", metavar="RUN_B")
    cmp_.add_argument("--json", action="store_true", help="print JSON")
    cmp_.set_defaults(handler=compare_command)
    verify = subparsers.add_parser(
        "verify", help="check every artifact a run recorded against its sha256: ok, changed or missing (exit 1)"
    )
    verify.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the run worked on last")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(handler=verify_command)
    repro = subparsers.add_parser(
        "reproduce",
        help="run a run again from its manifest in a scratch outputs folder and compare every artifact "
        "(exit 1 when any differs, timestamps aside)",
    )
    repro.add_argument("run_id", metavar="RUN_ID")
    repro.add_argument(
        "--into",
        metavar="DIR",
        help="the scratch outputs folder, new or empty (default: a new outputs/reproductions/<RUN_ID>-<stamp>/)",
    )
    repro.add_argument("--json", action="store_true", help="print JSON (the run's progress goes to stderr)")
    add_operator_code(repro, "extra_features")
    repro.set_defaults(handler=reproduce_command)


def compare_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Print the differences of two runs and build their compare page."""
    from aapl_lib.store.runs import find_run
    from aapl_lib.views.compare import compare_runs, format_text

    run_a, run_b = find_run(outputs, args.run_a), find_run(outputs, args.run_b)
    diff = compare_runs(run_a, run_b)
    print(json.dumps(diff, indent=2, default=str) if args.json else format_text(diff))
    from aapl_lib.views.browser import build_compare_page

    build_compare_page(run_a, run_b)
    return Exit.OK


def verify_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """``verify [RUN_ID] [--json]``: exit 0 when every recorded artifact matches, 1 otherwise."""
    from aapl_lib.store.integrity import CHANGED, OK, verify_run
    from aapl_lib.store.runs import find_run

    report = verify_run(find_run(outputs, args.run_id))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"run {report['run_id']}  {report['run_dir']}")
        print(f"{'artifact':<36}{'task':<21}result")
        for row in report["artifacts"]:
            line = f"{row['artifact']:<36}{row['task']:<21}{row['status'].upper() if row['status'] != OK else OK}"
            if row["status"] == CHANGED:
                line += f"  expected sha256 {row['expected_sha256'][:16]}…, now {row['sha256'][:16]}…"
            print(line)
        print(report["summary"])
    return Exit.OK if report["ok"] else Exit.FAILED


def reproduce_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """``reproduce RUN_ID [--into DIR] [--json]``: exit 0 when every artifact came out the same (timestamps
    aside), 1 otherwise."""
    from aapl_lib.pipeline.trust import operator_code
    from aapl_lib.runner.reproduce import reproduce
    from aapl_lib.views.artifact_diff import ASIDE, DIFFERENT, IDENTICAL

    operator = operator_code(chosen_params_file(args, root), args.parameter)
    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else print
    report = reproduce(
        args.run_id,
        outputs_dir=outputs,
        project=root,
        into=Path(args.into) if args.into else None,
        log_level=args.log_level,
        progress=progress,
        operator=operator,
    )
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return Exit.OK if report["ok"] else Exit.FAILED
    print(f"\nreproduction of run {report['run_id']}: {report['reproduction_dir']}")
    print(f"  (in its own outputs folder {report['scratch_outputs']}: the real registry, reuse cache and latest")
    print("   are untouched; every task was executed, nothing reused)")
    for note in report["notes"]:
        print(f"note: {note}")
    if report["run_message"]:
        print(f"reproduction run: {report['run_message']}")
    print(f"{'artifact':<36}{'result':<31}hint")
    for row in report["artifacts"]:
        print(f"{row['artifact']:<36}{row['result']:<31}{row['hint']}")
    counts = {v: sum(r["result"] == v for r in report["artifacts"]) for v in (IDENTICAL, ASIDE, DIFFERENT)}
    different = [r["artifact"] for r in report["artifacts"] if r["result"] == DIFFERENT]
    line = (
        f"run {report['run_id']}: {len(report['artifacts'])} artifacts compared, {counts[IDENTICAL]} identical, "
        f"{counts[ASIDE]} identical (timestamps aside), {counts[DIFFERENT]} DIFFERENT"
    )
    print(line + (f": {', '.join(different)}" if different else ""))
    if not report["run_ok"]:
        print(f"the reproduction did not finish as the original did ({report['run_status']})")
    return Exit.OK if report["ok"] else Exit.FAILED
