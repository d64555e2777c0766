"""``approve``, ``reject`` and ``convert-model``: what a person decides or vouches for, recorded with their name."""

from __future__ import annotations

import argparse
from pathlib import Path

from aapl_lib.cli.arguments import Subparsers
from aapl_lib.errors import PipelineError
from aapl_lib.pipeline.exit_codes import Exit


def register(subparsers: Subparsers) -> None:
    """Add ``approve``, ``reject`` and ``convert-model``."""
    for verb, text in (
        ("approve", "approve a run awaiting approval: its challenger becomes the champion"),
        ("reject", "reject a run awaiting approval: the champion stays"),
    ):
        cmd = subparsers.add_parser(verb, help=text)
        cmd.add_argument("run_id", metavar="RUN_ID")
        cmd.add_argument("--by", required=True, metavar="NAME", help="who decides (recorded)")
        cmd.add_argument("--note", default="", metavar="TEXT", help="why (recorded)")
        cmd.set_defaults(handler=decide_command)
    convert = subparsers.add_parser(
        "convert-model",
        help="convert a ticker's legacy joblib (pickle) champion to a skops file: unpickles it once, only when its "
        "sha256 is the one you trust (runs never load a pickle)",
    )
    convert.add_argument("ticker", metavar="TICKER")
    convert.add_argument(
        "--trust-sha256",
        required=True,
        metavar="SHA256",
        help="the sha256 you trust for the champion's file (from your own records, not only from champion.json)",
    )
    convert.add_argument("--by", required=True, metavar="NAME", help="who vouches for the file (recorded)")
    convert.set_defaults(handler=convert_model_command)


def decide_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """``approve`` or ``reject``: record the decision on a run awaiting approval."""
    from aapl_lib.runner.steps.approval_gate import decide

    print(decide(args.run_id, approve=args.command == "approve", by=args.by, note=args.note, outputs_dir=outputs))
    return Exit.OK


def convert_model_command(args: argparse.Namespace, root: Path, outputs: Path) -> int:
    """``convert-model TICKER --trust-sha256 SHA --by NAME``: the operator vouches for a legacy pickle champion;
    it is unpickled once and stored as a skops file (say first what is trusted and why it matters)."""
    from aapl_lib.io.iorw import utc_now
    from aapl_lib.promotion.registry import Registry

    registry = Registry(outputs, args.ticker.strip().upper())
    record = registry.champion()
    if record is None:
        raise PipelineError(
            f"{registry.ticker} has no champion ({registry.record_path} is missing): nothing to convert"
        )
    print(
        f"trusting {registry.dir / str(record.get('model_file'))} because you vouch for sha256 {args.trust_sha256}: "
        "unpickling it runs any code it holds, so do this only for a file you made or received from someone you trust"
    )
    converted = registry.convert_legacy(args.trust_sha256, by=args.by, at=utc_now())
    print(
        f"converted: {registry.dir / converted['model_file']} (skops, sha256 {converted['sha256'][:16]}…, only the "
        f"types our candidates use); {registry.record_path} names it and history.jsonl records the conversion"
    )
    return Exit.OK
