"""`sketchpad data check DIR [--json]`: format, counts, sizes, and every unreadable or unmatched file.
Exit 0 when the folder is clean, 1 when it can be trained on but has problem files (listed; training
refuses them unless told to skip them), 2 (with one line on stderr) when it cannot be trained on."""

from __future__ import annotations

import json

from models.errors import DataError

from . import int_in, printable_path


def add_parser(sub):
    p = sub.add_parser("data", help="inspect a dataset folder")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    c = actions.add_parser("check", help="report format, counts, sizes and every problem file")
    c.add_argument("dir", metavar="DIR")
    c.add_argument(
        "--holdout", type=int_in(0, 10**9), default=0, help="count N train items as val, as training would"
    )
    c.add_argument("--json", action="store_true", help="the report as one JSON object")
    return p


def run(args) -> int:
    from models.data import check_dataset

    report = check_dataset(args.dir, holdout=args.holdout)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    if not report.usable:
        raise DataError(report.error or f"{printable_path(args.dir)}: no usable images")
    if not args.json:
        print(report.text())
    return 1 if report.problems else 0
