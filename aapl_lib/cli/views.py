"""``dag`` and ``browse``: the pictures and pages a reviewer reads, drawn or rebuilt on demand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aapl_lib.cli.arguments import Subparsers
from aapl_lib.errors import PipelineError
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.store import layout


def register(subparsers: Subparsers) -> None:
    """Add ``dag`` and ``browse``."""
    dag = subparsers.add_parser("dag", help="draw the DAG from the task specs")
    dag.add_argument("--output", metavar="FILE", help="FILE.png or FILE.svg (default: print Mermaid text)")
    dag.add_argument("--format", choices=["mermaid", "png", "svg"], help="default: from --output, else mermaid")
    dag.set_defaults(handler=dag_command)
    browse = subparsers.add_parser(
        "browse", help="rebuild the run browser (outputs/index.html, operations.html) and print their paths"
    )
    browse.set_defaults(handler=browse_command)


def dag_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Print the DAG as Mermaid text, or write it to ``--output`` (Mermaid, PNG or SVG)."""
    from aapl_lib.views import dag

    fmt = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output else "mermaid")
    if fmt == "mermaid":
        text = dag.mermaid()
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(args.output)
        else:
            print(text, end="")
        return Exit.OK
    if not args.output or Path(args.output).suffix.lower() != f".{fmt}":
        raise PipelineError(f"--format {fmt} needs --output FILE.{fmt}")
    print(dag.draw(args.output))
    return Exit.OK


def browse_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """Rebuild every run's and batch's page, the operations page and the index; print their paths (the index's
    last)."""
    from aapl_lib.store.manifest import list_batches
    from aapl_lib.store.runs import scan_runs
    from aapl_lib.views.batch_summary import write_summary
    from aapl_lib.views.browser import build_run_page, refresh

    for run in scan_runs(outputs):
        if run.manifest is None:  # a damaged manifest: say so, build the other pages
            print(f"warning: {run.error}", file=sys.stderr)
            continue
        build_run_page(run.run_dir, run.manifest)
    for batch in list_batches(outputs):  # pages with each batch's status as it is now (interrupted...)
        write_summary(outputs, layout.batch_dir(outputs, batch["batch_id"]), batch)
    from aapl_lib.views.track_page import build_track_pages

    build_track_pages(outputs)  # one page per ticker with a forecast ledger
    index = refresh(outputs)
    print(f"operations page: {layout.operations_page(outputs)}")
    print(index)
    return Exit.OK
